"""docs/evidence-format.md lists what the code writes: kinds, actors, and the manifest's members."""

import ast
from pathlib import Path

from cavra_engine.evidence import schema

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "evidence-format.md").read_text()
APPS = ("evidence", "policies", "approvals", "registry", "tenants", "aispm")


def _kinds_written() -> set[str]:
    """The `kind` of every evidence_append (and audit sink) call in the apps; f-strings as "prefix<"."""
    kinds = set()
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name not in ("evidence_append", "sink"):
                    continue
                for keyword in node.keywords:
                    if keyword.arg != "kind":
                        continue
                    if isinstance(keyword.value, ast.Constant):
                        kinds.add(keyword.value.value)
                    elif isinstance(keyword.value, ast.JoinedStr) and isinstance(
                        keyword.value.values[0], ast.Constant
                    ):
                        kinds.add(keyword.value.values[0].value + "<")
    return kinds


def test_every_kind_the_code_writes_is_in_the_format_document():
    kinds = _kinds_written()
    assert "decision.recorded" in kinds and "audit.<" in kinds
    for kind in kinds:
        if kind.endswith("<"):
            assert f"`{kind}" in DOC, f"kind family {kind}…> is not documented"
        else:
            assert f"`{kind}`" in DOC, f"kind {kind} is not documented"
            assert schema.KIND.match(kind), kind


def test_documented_actor_forms_match_the_pattern():
    for actor in ("user:rita@acme.test", "agent:agt_0123", "system:cli"):
        assert schema.ACTOR.match(actor)
        assert f"`{actor.split(':')[0]}:" in DOC
    for bad in ("root", "user:", "cli", "system:\n"):
        assert not schema.ACTOR.match(bad)


def test_the_manifest_members_in_the_document_are_the_ones_checked():
    for name in schema.MANIFEST_V2_SPEC:
        assert f"`{name}`" in DOC
    for name in list(schema.FILTER_SPEC) + list(schema.CHAIN_SPEC) + list(schema.CHECKPOINT_V2_SPEC):
        assert f"`{name}`" in DOC
