"""Loader validation: every invalid pack is a PolicyError naming file, line and key path."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from cavra_engine.policy import PolicyError, compile_pack, load_pack_file, load_pack_text
from cavra_engine.policy.schema import policy_schema, schema_json

from .conftest import FIXTURES

HEAD = "apiVersion: cavra.policy/v2\nmetadata: {id: t, title: T, version: '1'}\n"


def errors_of(text: str, **kwargs) -> list[dict]:
    with pytest.raises(PolicyError) as info:
        compile_pack(load_pack_text(text, source_name="pack.yaml", **kwargs))
    return info.value.errors


def test_unknown_key_names_line_and_path():
    text = (
        HEAD + "rules:\n  - id: r\n    action: read_file\n    match:\n      pathz: [x]\n    effect: block\n"
    )
    [error] = errors_of(text)
    assert error["file"] == "pack.yaml"
    assert error["line"] == 7
    assert error["path"] == "rules[0].match.pathz"
    assert "unknown key 'pathz'" in error["message"]


def test_unknown_top_level_key():
    [error] = errors_of(HEAD + "rulez: []\n")
    assert (error["path"], error["line"]) == ("rulez", 3)


def test_wrong_types_are_reported_per_key():
    text = (
        HEAD
        + "rules:\n  - id: r\n    action: read_file\n    match: {paths: 5}\n    effect: block\n    severity: 3\n"
    )
    errors = errors_of(text)
    by_path = {e["path"]: e for e in errors}
    assert "expected a string or a list" in by_path["rules[0].match.paths"]["message"]
    assert by_path["rules[0].match.paths"]["line"] == 6
    assert "rules[0].severity" in by_path


def test_bad_enum_value():
    [error] = errors_of(HEAD + "rules:\n  - {id: r, action: read_file, effect: blok}\n")
    assert error["path"] == "rules[0].effect" and "blok" in error["message"]


def test_bad_action_name():
    [error] = errors_of(HEAD + "rules:\n  - {id: r, action: delete_everything, effect: block}\n")
    assert error["path"].startswith("rules[0].action")


def test_missing_required_keys():
    errors = errors_of("apiVersion: cavra.policy/v2\nmetadata: {id: t}\n")
    assert any("'title' is a required key" in e["message"] for e in errors)
    assert all(e["path"] == "metadata" for e in errors)


def test_bad_glob_and_bad_regex():
    text = HEAD + (
        "rules:\n"
        "  - id: a\n    action: read_file\n    match: {paths: ['[abc']}\n    effect: block\n"
        "  - id: b\n    action: execute_command\n    match: {commands: {program: rm, regex: '(x'}}\n    effect: block\n"
        "  - id: c\n    action: network_request\n    match: {network: {url_regex: '*bad'}}\n    effect: block\n"
    )
    errors = errors_of(text)
    paths = {e["path"]: e for e in errors}
    assert "bad glob" in paths["rules[0].match.paths[0]"]["message"]
    assert paths["rules[0].match.paths[0]"]["line"] == 6
    assert "bad regex" in paths["rules[1].match.commands.regex"]["message"]
    assert "bad regex" in paths["rules[2].match.network.url_regex"]["message"]


def test_duplicate_rule_ids():
    text = (
        HEAD
        + "rules:\n  - {id: r, action: read_file, effect: block}\n  - {id: r, action: write_file, effect: block}\n"
    )
    [error] = errors_of(text)
    assert error["path"] == "rules[1].id" and error["line"] == 5
    assert "duplicate rule id 'r'" in error["message"]


def test_duplicate_yaml_keys():
    [error] = errors_of(HEAD + "rules: []\nrules: []\n")
    assert "duplicate key 'rules'" in error["message"] and error["line"] == 4


def test_action_without_applicable_matcher():
    text = (
        HEAD
        + "rules:\n  - id: r\n    action: [read_file, execute_command]\n    match: {paths: [x]}\n    effect: block\n"
    )
    [error] = errors_of(text)
    assert "execute_command" in error["message"] and error["path"] == "rules[0].match"


def test_unparseable_default_cannot_allow():
    [error] = errors_of(HEAD + "defaults: {unparseable_command: allow}\n")
    assert error["path"] == "defaults.unparseable_command"


@pytest.mark.parametrize(
    "text",
    [
        "apiVersion: cavra.policy/v2\nmetadata: {id: t\n  title: [\n",
        "key: [unclosed\n",
        "\t- bad indentation\n  x: : y\n",
        "a: b\n- c\n",
        "!!python/object:os.system {}\n",
    ],
)
def test_malformed_yaml_is_a_policy_error(text):
    with pytest.raises(PolicyError) as info:
        load_pack_text(text, source_name="broken.yaml")
    assert info.value.errors[0]["file"] == "broken.yaml"
    assert info.value.errors[0]["message"]


def test_malformed_yaml_reports_line():
    with pytest.raises(PolicyError) as info:
        load_pack_text(HEAD + "rules:\n  - {id: r, action: [read_file\n", source_name="x.yaml")
    assert info.value.errors[0]["line"] >= 4
    assert "malformed YAML" in info.value.errors[0]["message"]


@pytest.mark.parametrize("text", ["", "# only a comment\n", "- a\n- b\n", "just a string\n", "42\n"])
def test_empty_or_non_mapping_pack(text):
    with pytest.raises(PolicyError):
        load_pack_text(text)


def write(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")
    return path


def pack(pack_id: str, extra: str = "") -> str:
    return (
        f"apiVersion: cavra.policy/v2\nmetadata: {{id: {pack_id}, title: {pack_id}, version: '1'}}\n{extra}"
    )


def test_extends_cycle(tmp_path):
    write(tmp_path, "a.yaml", pack("a", "extends: [b]\n"))
    write(tmp_path, "b.yaml", pack("b", "extends: [c]\n"))
    write(tmp_path, "c.yaml", pack("c", "extends: a\n"))
    with pytest.raises(PolicyError) as info:
        load_pack_file(tmp_path / "a.yaml")
    [error] = info.value.errors
    assert "extends cycle: a -> b -> c -> a" in error["message"]
    assert error["file"].endswith("c.yaml") and error["line"] == 3


def test_self_extends_is_a_cycle(tmp_path):
    write(tmp_path, "a.yaml", pack("a", "extends: [a]\n"))
    with pytest.raises(PolicyError, match="cycle"):
        load_pack_file(tmp_path / "a.yaml")


def test_missing_parent(tmp_path):
    write(tmp_path, "a.yaml", pack("a", "extends: [does-not-exist]\n"))
    with pytest.raises(PolicyError) as info:
        load_pack_file(tmp_path / "a.yaml")
    [error] = info.value.errors
    assert "parent pack 'does-not-exist' not found" in error["message"]
    assert error["path"] == "extends[0]" and error["line"] == 3


def test_parent_lookup_next_to_file_dir_layout_and_env(tmp_path, monkeypatch):
    write(tmp_path, "child.yaml", pack("child", "extends: [p1, p2, p3]\n"))
    write(tmp_path, "p1.yaml", pack("p1"))
    write(tmp_path, "p2/policy.yaml", pack("p2"))
    elsewhere = tmp_path / "elsewhere"
    write(elsewhere, "p3.yaml", pack("p3"))
    with pytest.raises(PolicyError, match="'p3' not found"):
        load_pack_file(tmp_path / "child.yaml")
    monkeypatch.setenv("CAVRA_POLICY_DIR", f"/nonexistent{__import__('os').pathsep}{elsewhere}")
    loaded = load_pack_file(tmp_path / "child.yaml")
    assert [p.id for p in loaded.parents] == ["p1", "p2", "p3"]


def test_invalid_parent_reports_parent_file(tmp_path):
    write(tmp_path, "child.yaml", pack("child", "extends: [p]\n"))
    write(tmp_path, "p.yaml", pack("p", "rules: [{id: r, action: read_file, effect: nope}]\n"))
    with pytest.raises(PolicyError) as info:
        load_pack_file(tmp_path / "child.yaml")
    assert info.value.errors[0]["file"].endswith("p.yaml")


def test_duplicate_rule_id_across_parents_and_override(tmp_path):
    rule = "rules: [{id: shared, action: read_file, match: {paths: [x]}, effect: block}]\n"
    write(tmp_path, "p.yaml", pack("p", rule))
    write(tmp_path, "q.yaml", pack("q", rule))
    write(tmp_path, "child.yaml", pack("child", "extends: [p, q]\n"))
    with pytest.raises(PolicyError, match="already defined by pack 'p'"):
        compile_pack(load_pack_file(tmp_path / "child.yaml"))
    write(
        tmp_path,
        "bad-override.yaml",
        pack("bad-override", "rules: [{id: nope, override: true, action: read_file, effect: allow}]\n"),
    )
    with pytest.raises(PolicyError, match="no inherited rule 'nope'"):
        compile_pack(load_pack_file(tmp_path / "bad-override.yaml"))


def test_mapping_that_matches_nothing(tmp_path):
    text = pack("m", "mappings: [{rules: [missing.*], compliance: {soc2: [CC1.1]}}]\n")
    [error] = errors_of(text)
    assert "matches no rule" in error["message"] and error["path"] == "mappings[0].rules[0]"


def test_v1_and_v2_cannot_mix(tmp_path):
    write(tmp_path, "old.yaml", "filesystem: {block_read: ['*.pem']}\n")
    write(tmp_path, "new.yaml", pack("new", "extends: [old]\n"))
    with pytest.raises(PolicyError, match="cannot extend the v1 pack"):
        load_pack_file(tmp_path / "new.yaml")


def test_v1_unknown_keys():
    with pytest.raises(PolicyError, match="unknown key 'blok'"):
        load_pack_text("commands: {blok: [x]}\n")


def test_unreadable_and_non_utf8_files(tmp_path):
    with pytest.raises(PolicyError, match="cannot read"):
        load_pack_file(tmp_path / "missing.yaml")
    (tmp_path / "latin.yaml").write_bytes(b"metadata: {id: \xe9}\n")
    with pytest.raises(PolicyError, match="UTF-8"):
        load_pack_file(tmp_path / "latin.yaml")


def test_error_str_is_readable():
    with pytest.raises(PolicyError) as info:
        load_pack_text(HEAD + "bogus: 1\n", source_name="f.yaml")
    assert str(info.value).startswith("f.yaml:3: bogus: unknown key")


def test_docs_schema_is_generated_from_the_engine():
    docs = Path(__file__).resolve().parents[3] / "docs" / "policy-schema.json"
    assert docs.read_text(encoding="utf-8") == schema_json()
    jsonschema.Draft202012Validator.check_schema(json.loads(schema_json()))


def test_fixture_packs_validate_against_the_published_schema():
    validator = jsonschema.Draft202012Validator(policy_schema())
    data = yaml.safe_load((FIXTURES / "sample.yaml").read_text())
    assert list(validator.iter_errors(data)) == []


AGREEMENT_CASES = [
    HEAD,
    HEAD + "rules: [{id: r, action: read_file, effect: block}]\n",
    HEAD + "rules: [{id: r, action: read_file, actions: [write_file], effect: block}]\n",
    HEAD + "rules: [{id: r, effect: block}]\n",
    HEAD + "rules: [{id: r, action: [], effect: block}]\n",
    HEAD + "rules: [{id: '-bad', action: read_file, effect: block}]\n",
    HEAD
    + "rules: [{id: r, action: mcp_tool_call, match: {mcp: {capability: [read, flying]}}, effect: block}]\n",
    HEAD + "rules: [{id: r, action: network_request, match: {network: {port: 70000}}, effect: block}]\n",
    HEAD + "defaults: {read_file: {effect: block, extra: 1}}\n",
    HEAD + "compliance: {}\n",
    HEAD + "rules: [{id: r, action: read_file, effect: block, compliance: {SOC2: [x]}}]\n",
    HEAD + "tests: [{action: read_file, target: x, expect: block, rule: null}]\n",
    HEAD + "tests: [{action: read_file, target: x}]\n",
]


@pytest.mark.parametrize("text", AGREEMENT_CASES)
def test_fast_validator_agrees_with_jsonschema(text):
    from cavra_engine.policy.validate import schema_errors

    data = yaml.safe_load(text)
    reference = list(jsonschema.Draft202012Validator(policy_schema()).iter_errors(data))
    assert bool(schema_errors(data)) == bool(reference)


def test_fast_validator_agrees_on_every_fixture_and_bundled_pack():
    from cavra_engine.policy.loader import bundled_pack_paths
    from cavra_engine.policy.validate import schema_errors

    for path in [FIXTURES / "sample.yaml", *bundled_pack_paths()]:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        reference = list(jsonschema.Draft202012Validator(policy_schema()).iter_errors(data))
        assert bool(schema_errors(data)) == bool(reference), path
