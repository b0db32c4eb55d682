"""Rollout modes and CAVRA v1 outcomes applied to a verdict (no Django: the portal and offline bundles share it).

The modes, from the most permissive: `audit_only` (answer allow, remember what the policy said),
`break_glass` (an attested require_approval -> allow_with_attestation; blocks stay blocks),
`enforce`, `strict_regulated` (every allow needs approval unless it is an attested
allow_with_attestation), `strict` (every allow needs approval).
An `allow_with_attestation` outcome without an attestation (actor + reason) cannot be granted: block.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .evaluator import Verdict
from .vocabulary import (
    ALLOW,
    ALLOW_WITH_ATTESTATION,
    AUDIT_ONLY,
    BLOCK,
    MODE_AUDIT_ONLY,
    MODE_BREAK_GLASS,
    MODE_STRICT,
    MODE_STRICT_REGULATED,
    REQUIRE_APPROVAL,
    SEVERITY_RANK,
)

STRICT_REASON = "Strict mode: every allowed action needs approval."
STRICT_REGULATED_REASON = (
    "Strict regulated mode: every allowed action needs approval unless a rule allows it with an attestation."
)
ATTESTATION_MISSING = "This action is allowed only with an attestation: send attestation.actor (who) and attestation.reason (why)."
BREAK_GLASS_HINT = (
    "Break-glass mode: send attestation.actor and attestation.reason to proceed without approval."
)


@dataclass(frozen=True)
class Attestation:
    """Who vouches for an action and why; recorded with the decision."""

    actor: str
    reason: str

    def as_dict(self) -> dict:
        return {"actor": self.actor, "reason": self.reason}


@dataclass(frozen=True)
class ModeResult:
    verdict: Verdict
    would_have: dict | None = None
    # The attestation the answer relies on (None when it relies on none); break_glass says which kind.
    attestation: Attestation | None = None
    break_glass: bool = False


def outcome_of(verdict: Verdict) -> str:
    return verdict.outcome or verdict.decision


def _append(reason: str, extra: str) -> str:
    return (reason + " " if reason else "") + extra


def _at_least(severity: str, floor: str) -> str:
    return severity if SEVERITY_RANK.get(severity, 0) >= SEVERITY_RANK[floor] else floor


def _needs_approval(verdict: Verdict, rule_id: str, why: str) -> Verdict:
    rule = verdict.rule_id or rule_id
    severity = "medium" if rule == rule_id else verdict.severity
    return replace(
        verdict, decision=REQUIRE_APPROVAL, outcome="", rule_id=rule, severity=severity,
        reason=_append(verdict.reason, why),
    )  # fmt: skip


def apply_mode(
    verdict: Verdict, mode: str, *, attestation: Attestation | None = None, from_policy: bool = True
) -> ModeResult:
    """The answer under `mode`. Only the policy's own verdicts are softened (never a portal or registry one)."""
    attested = None
    if from_policy and outcome_of(verdict) == ALLOW_WITH_ATTESTATION:
        if attestation is None:
            verdict = replace(
                verdict, decision=BLOCK, outcome="", severity=_at_least(verdict.severity, "medium"),
                reason=_append(verdict.reason, ATTESTATION_MISSING),
            )  # fmt: skip
        else:
            attested = attestation
    if mode == MODE_AUDIT_ONLY and from_policy and verdict.decision != ALLOW:
        would_have = {"decision": verdict.decision, "rule_id": verdict.rule_id, "reason": verdict.reason}
        return ModeResult(replace(verdict, decision=ALLOW, outcome=AUDIT_ONLY), would_have=would_have)
    if mode == MODE_STRICT and verdict.decision == ALLOW:
        return ModeResult(_needs_approval(verdict, "mode.strict", STRICT_REASON))
    if mode == MODE_STRICT_REGULATED and verdict.decision == ALLOW and attested is None:
        return ModeResult(_needs_approval(verdict, "mode.strict_regulated", STRICT_REGULATED_REASON))
    if mode == MODE_BREAK_GLASS and from_policy and verdict.decision == REQUIRE_APPROVAL:
        if attestation is None:
            return ModeResult(replace(verdict, reason=_append(verdict.reason, BREAK_GLASS_HINT)))
        reason = _append(verdict.reason, f"Break glass by {attestation.actor}: {attestation.reason}")
        broken = replace(verdict, decision=ALLOW, outcome=ALLOW_WITH_ATTESTATION, reason=reason)
        return ModeResult(broken, attestation=attestation, break_glass=True)
    return ModeResult(verdict, attestation=attested)
