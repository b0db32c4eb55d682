"""docs/evidence-format.md lists what the code checks: actors and the manifest's members (kinds: test_kinds)."""

from pathlib import Path

from cavra_engine.evidence import schema

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "evidence-format.md").read_text()


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
