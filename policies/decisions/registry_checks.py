"""Step: the registry's objection (suspended agent, profile scope, MCP server trust, tool pins)."""

from __future__ import annotations

from dataclasses import replace

from django.db import DatabaseError

from cavra_engine.policy import Verdict
from cavra_engine.policy.vocabulary import BLOCK, VERDICT_RANK
from policies.decisions.types import Caller, DecisionInput, DecisionUnavailable, Judgement
from registry.selectors import registry_check


def registry_review(judgement: Judgement, caller: Caller, data: DecisionInput) -> Judgement:
    """An objection at least as strict as the verdict replaces it (and audit_only may not soften it)."""
    try:
        objection = registry_check(
            tenant=caller.tenant,
            agent=caller.agent,
            action=data.action,
            repository=data.repository,
            mcp=data.mcp,
        )
    except DatabaseError as exc:
        raise DecisionUnavailable("The registry is unreachable.") from exc
    if objection is None:
        return judgement
    blocks = objection.decision == BLOCK
    if VERDICT_RANK[objection.decision] < VERDICT_RANK[judgement.decision]:
        return replace(judgement, registry_blocks=blocks)
    verdict = Verdict(
        objection.decision,
        objection.rule_id,
        objection.severity,
        objection.reason,
        normalised_target=judgement.verdict.normalised_target,
    )
    return Judgement(verdict, from_policy=False, registry_blocks=blocks)
