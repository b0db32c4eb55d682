"""CAVRA v1 outcomes (warn, audit_only, allow_with_attestation) and the five rollout modes, in the engine."""

from __future__ import annotations

import pytest

from cavra_engine.policy import compile_pack, load_pack_text
from cavra_engine.policy.modes import Attestation, apply_mode
from cavra_engine.policy.vocabulary import MODE_RANK, MODES

from .conftest import decide

PACK = """\
metadata: {id: outcomes, name: Outcomes, version: "1"}
filesystem:
  block_write: [".env"]
  require_approval_write: [".github/workflows/*"]
  allow_with_attestation_write: ["migrations/*"]
  warn_write: ["docs/*"]
  audit_only_write: ["scratch/*"]
commands:
  block: ["rm -rf /*"]
  allow_with_attestation: ["terraform apply*"]
  warn: ["npm publish*"]
  audit_only: ["curl *"]
  allow: ["ls*", "git status"]
"""

WHO = Attestation("alice@acme.test", "INC-42 hotfix")


@pytest.fixture(scope="module")
def pack():
    return compile_pack(load_pack_text(PACK, source_name="outcomes.yaml"))


@pytest.mark.parametrize(
    "action,target,outcome,rule",
    [
        (
            "execute_command",
            "terraform apply -auto-approve",
            "allow_with_attestation",
            "commands.allow_with_attestation",
        ),
        ("execute_command", "npm publish --tag next", "warn", "commands.warn"),
        ("execute_command", "curl https://example.com", "audit_only", "commands.audit_only"),
        (
            "write_file",
            "migrations/0042.sql",
            "allow_with_attestation",
            "filesystem.write.allow_with_attestation",
        ),
        ("write_file", "docs/x.md", "warn", "filesystem.write.warn"),
        ("write_file", "scratch/a/b.txt", "audit_only", "filesystem.write.audit_only"),
    ],
)
def test_soft_outcomes_are_answered_as_allow_and_say_which(pack, action, target, outcome, rule):
    verdict = decide(pack, action, target)
    assert (verdict.decision, verdict.outcome, verdict.rule_id) == ("allow", outcome, rule)
    assert verdict.to_dict()["outcome"] == outcome


def test_block_and_approval_lists_come_first(pack):
    assert decide(pack, "execute_command", "rm -rf /*").decision == "block"
    assert decide(pack, "write_file", ".env").decision == "block"
    # v1 order: block, require_approval_write, then the soft outcomes, then allow
    approval = decide(pack, "write_file", ".github/workflows/ci.yml")
    assert (approval.decision, approval.outcome) == ("require_approval", "")
    plain = decide(pack, "execute_command", "git status")
    assert (plain.decision, plain.outcome, plain.rule_id) == ("allow", "", "commands.allow")
    assert "outcome" not in plain.to_dict()


def test_a_pack_without_the_new_lists_keeps_its_digest():
    text = "metadata: {id: old, version: '1'}\ncommands: {block: ['rm -rf /*'], allow: ['ls']}\n"
    compiled = compile_pack(load_pack_text(text, source_name="old.yaml"))
    assert set(compiled.document["v1"]["commands"]) == {"block", "allow", "require_approval"}


def test_unknown_outcome_list_is_an_error_naming_the_key():
    from cavra_engine.policy import PolicyError

    with pytest.raises(PolicyError) as err:
        load_pack_text("commands: {warn_me: ['x']}\n", source_name="bad.yaml")
    assert "warn_me" in str(err.value)


def test_allow_with_attestation_without_attestation_is_block(pack):
    verdict = decide(pack, "execute_command", "terraform apply")
    bare = apply_mode(verdict, "enforce")
    assert bare.verdict.decision == "block" and bare.attestation is None
    assert "attestation.actor" in bare.verdict.reason
    attested = apply_mode(verdict, "enforce", attestation=WHO)
    assert (attested.verdict.decision, attested.verdict.outcome) == ("allow", "allow_with_attestation")
    assert attested.attestation == WHO and not attested.break_glass


def test_warn_and_audit_only_pass_in_enforce_and_need_approval_in_strict_modes(pack):
    for target in ("npm publish", "curl https://x"):
        verdict = decide(pack, "execute_command", target)
        assert apply_mode(verdict, "enforce").verdict is verdict
        for mode in ("strict", "strict_regulated"):
            moded = apply_mode(verdict, mode).verdict
            assert (moded.decision, moded.outcome) == ("require_approval", "")


def test_strict_regulated_honours_an_attestation_strict_does_not(pack):
    verdict = decide(pack, "execute_command", "terraform apply")
    regulated = apply_mode(verdict, "strict_regulated", attestation=WHO)
    assert regulated.verdict.outcome == "allow_with_attestation" and regulated.attestation == WHO
    strict = apply_mode(verdict, "strict", attestation=WHO).verdict
    assert strict.decision == "require_approval" and strict.rule_id == "commands.allow_with_attestation"
    plain = apply_mode(decide(pack, "execute_command", "ls -la"), "strict_regulated").verdict
    assert (plain.decision, plain.rule_id) == ("require_approval", "commands.allow")
    assert "Strict regulated mode" in plain.reason


def test_break_glass_turns_an_attested_approval_into_allow_with_attestation_but_never_a_block(pack):
    approval = decide(pack, "write_file", ".github/workflows/ci.yml")
    broken = apply_mode(approval, "break_glass", attestation=WHO)
    assert (broken.verdict.decision, broken.verdict.outcome) == ("allow", "allow_with_attestation")
    assert broken.break_glass and "Break glass by alice@acme.test: INC-42 hotfix" in broken.verdict.reason
    unattested = apply_mode(approval, "break_glass").verdict
    assert unattested.decision == "require_approval" and "attestation.actor" in unattested.reason
    block = decide(pack, "execute_command", "rm -rf /*")
    assert apply_mode(block, "break_glass", attestation=WHO).verdict.decision == "block"
    # a portal or registry verdict is never broken
    assert apply_mode(approval, "break_glass", attestation=WHO, from_policy=False).verdict is approval


def test_audit_only_mode_softens_and_remembers(pack):
    block = decide(pack, "execute_command", "rm -rf /*")
    moded = apply_mode(block, "audit_only")
    assert (moded.verdict.decision, moded.verdict.outcome) == ("allow", "audit_only")
    assert moded.would_have["decision"] == "block"


def test_modes_are_ranked_from_the_most_permissive():
    assert MODES == ("audit_only", "break_glass", "enforce", "strict_regulated", "strict")
    assert MODE_RANK["break_glass"] < MODE_RANK["enforce"] < MODE_RANK["strict_regulated"]
