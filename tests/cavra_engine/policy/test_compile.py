"""Compiler: extends resolution, canonical JSON, deterministic digests, the index."""

from __future__ import annotations

import json

import pytest

from cavra_engine.policy import CompiledPolicy, PolicyError, compile_pack, load_pack_file, load_pack_text

from .conftest import FIXTURES, decide

PACK = """
apiVersion: cavra.policy/v2
metadata: {id: d, title: D, version: '1'}
rules:
  - id: a
    action: read_file
    match: {paths: ['*.pem', secrets/]}
    effect: block
  - id: b
    action: execute_command
    match: {commands: [{program: rm, flags: [-r]}]}
    effect: require_approval
"""

REFORMATTED = """
# the same pack, formatted differently
rules:
- effect: block
  match:
    paths:
    - '*.pem'
    - "secrets/"
  action: read_file
  id: a
- {id: b, action: execute_command, effect: require_approval, match: {commands: {program: [rm], flags: ["-r"]}}}
metadata:
  version: "1"
  title: D
  id: d
apiVersion: "cavra.policy/v2"
"""


def test_same_pack_same_digest_whatever_the_formatting():
    first = compile_pack(load_pack_text(PACK))
    second = compile_pack(load_pack_text(PACK))
    third = compile_pack(load_pack_text(REFORMATTED))
    assert first.digest == second.digest == third.digest
    assert first.to_json() == third.to_json()
    assert len(first.digest) == 64


def test_any_semantic_change_changes_the_digest():
    base = compile_pack(load_pack_text(PACK)).digest
    assert (
        compile_pack(load_pack_text(PACK.replace("effect: require_approval", "effect: block"))).digest != base
    )
    assert compile_pack(load_pack_text(PACK.replace("'*.pem'", "'*.key'"))).digest != base


def test_canonical_json_round_trip_and_tamper_detection():
    compiled = compile_pack(load_pack_text(PACK))
    text = compiled.to_json()
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    again = CompiledPolicy.from_json(text)
    assert again.digest == compiled.digest and again.to_json() == text
    assert decide(again, "read_file", "a/b/key.pem").decision == "block"
    tampered = text.replace('"effect":"block"', '"effect":"allow"', 1)
    with pytest.raises(PolicyError, match="digest does not match"):
        CompiledPolicy.from_json(tampered)
    with pytest.raises(PolicyError):
        CompiledPolicy.from_json("not json")
    with pytest.raises(PolicyError):
        CompiledPolicy.from_json('{"format": "other"}')


def test_public_attributes(sample):
    assert sample.pack_id == "sample" and sample.version == "1.0.0" and sample.title == "Sample fixture pack"


def write(tmp_path, name, body):
    (tmp_path / name).write_text(body, encoding="utf-8")
    return tmp_path / name


def test_extends_parents_first_override_disable_defaults_and_mappings(tmp_path):
    write(
        tmp_path,
        "parent.yaml",
        """
apiVersion: cavra.policy/v2
metadata: {id: parent, title: P, version: '1'}
defaults: {any: allow, network_request: block}
rules:
  - {id: p.one, action: read_file, match: {paths: [one]}, effect: block}
  - {id: p.two, action: read_file, match: {paths: [two]}, effect: block}
  - {id: p.three, action: read_file, match: {paths: [three]}, effect: require_approval}
""",
    )
    write(
        tmp_path,
        "child.yaml",
        """
apiVersion: cavra.policy/v2
metadata: {id: child, title: C, version: '2'}
extends: parent
defaults: {mcp_tool_call: require_approval}
rules:
  - {id: c.one, action: read_file, match: {paths: [one]}, effect: allow}
  - {id: p.two, override: true, action: read_file, match: {paths: [two]}, effect: allow}
  - {id: p.three, override: true, enabled: false, action: read_file, effect: block}
mappings:
  - rules: ["p.*", c.one]
    compliance: {soc2: [CC6.1], iso27001: [A.5.15]}
""",
    )
    compiled = compile_pack(load_pack_file(tmp_path / "child.yaml"))
    assert [rule["id"] for rule in compiled.rules] == ["p.one", "p.two", "c.one"]
    assert compiled.rules[1]["effect"] == "allow" and compiled.rules[1]["pack"] == "child"
    assert compiled.document["extends"] == ["parent"]
    defaults = compiled.document["defaults"]
    assert defaults["network_request"]["effect"] == "block"
    assert defaults["mcp_tool_call"]["effect"] == "require_approval"
    assert defaults["read_file"]["effect"] == "allow"
    verdict = decide(compiled, "read_file", "x/one")
    assert (verdict.decision, verdict.rule_id) == (
        "block",
        "p.one",
    )  # most restrictive beats the child's allow
    assert verdict.compliance == {"iso27001": ["A.5.15"], "soc2": ["CC6.1"]}
    assert decide(compiled, "read_file", "two").decision == "allow"
    assert decide(compiled, "read_file", "three").rule_id is None
    assert decide(compiled, "network_request", "https://x").decision == "block"


def test_diamond_extends_loads_each_pack_once(tmp_path):
    head = "apiVersion: cavra.policy/v2\nmetadata: {{id: {0}, title: {0}, version: '1'}}\n"
    write(
        tmp_path,
        "base.yaml",
        head.format("base")
        + "rules: [{id: base.r, action: read_file, effect: block, match: {paths: [x]}}]\n",
    )
    write(tmp_path, "left.yaml", head.format("left") + "extends: [base]\n")
    write(tmp_path, "right.yaml", head.format("right") + "extends: [base]\n")
    write(tmp_path, "top.yaml", head.format("top") + "extends: [left, right]\n")
    compiled = compile_pack(load_pack_file(tmp_path / "top.yaml"))
    assert [rule["id"] for rule in compiled.rules] == ["base.r"]
    assert compiled.document["extends"] == ["base", "left", "right"]


def test_index_narrows_candidates(sample):
    lines = ["apiVersion: cavra.policy/v2", "metadata: {id: idx, title: I, version: '1'}", "rules:"]
    for i in range(50):
        lines.append(f"  - {{id: n{i}, action: read_file, match: {{paths: ['name{i}.txt']}}, effect: block}}")
        lines.append(f"  - {{id: e{i}, action: read_file, match: {{paths: ['*.ext{i}']}}, effect: block}}")
    lines.append("  - {id: generic, action: read_file, match: {paths: ['src/**']}, effect: require_approval}")
    index = compile_pack(load_pack_text("\n".join(lines))).runtime.index
    assert [r.id for r in index.path_candidates("read_file", "README.md")] == ["generic"]
    assert [r.id for r in index.path_candidates("read_file", "a/name7.txt")] == ["n7", "generic"]
    assert [r.id for r in index.path_candidates("read_file", "x/name7.ext3")] == ["e3", "generic"]
    assert "secrets.dotenv" in {r.id for r in sample.runtime.index.path_candidates("read_file", "app/.env")}
    index = sample.runtime.index
    npm = {r.id for r in index.command_candidates("npm")}
    assert "cmd.npm-test" in npm and "destructive.rm-root" not in npm
    assert "destructive.rm-root" in {
        r.id for r in index.command_candidates(None)
    }  # unknown program: every rule


def test_generated_thousand_rule_pack_compiles_and_decides():
    lines = ["apiVersion: cavra.policy/v2", "metadata: {id: big, title: Big, version: '1'}", "rules:"]
    for i in range(1000):
        lines.append(
            f"  - {{id: r{i}, action: read_file, match: {{paths: ['dir{i}/*.key']}}, effect: block}}"
        )
    compiled = compile_pack(load_pack_text("\n".join(lines)))
    assert len(compiled.rules) == 1000
    assert decide(compiled, "read_file", "dir999/a.key").rule_id == "r999"
    assert decide(compiled, "read_file", "dir5/a.txt").decision == "allow"


def test_bundled_fixture_loads_from_file():
    assert load_pack_file(FIXTURES / "sample.yaml").id == "sample"
