"""Step: apply the rollout mode (audit_only answers allow but remembers; strict turns allow into approval)."""

from __future__ import annotations

from dataclasses import replace

from cavra_engine.policy.vocabulary import ALLOW, REQUIRE_APPROVAL
from policies.decisions.types import Judgement
from policies.models import Rollout

STRICT_REASON = "Strict mode: every allowed action needs approval."


def apply_mode(judgement: Judgement, mode: str) -> Judgement:
    verdict = judgement.verdict
    if mode == Rollout.Mode.AUDIT_ONLY and verdict.decision != ALLOW and judgement.from_policy:
        would_have = {"decision": verdict.decision, "rule_id": verdict.rule_id, "reason": verdict.reason}
        return replace(judgement, verdict=replace(verdict, decision=ALLOW), would_have=would_have)
    if mode == Rollout.Mode.STRICT and verdict.decision == ALLOW:
        rule_id = verdict.rule_id or "mode.strict"
        severity = "medium" if rule_id == "mode.strict" else verdict.severity
        reason = (verdict.reason + " " if verdict.reason else "") + STRICT_REASON
        strict = replace(
            verdict, decision=REQUIRE_APPROVAL, rule_id=rule_id, severity=severity, reason=reason
        )
        return replace(judgement, verdict=strict)
    return judgement
