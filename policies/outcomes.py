"""What happened after an allowed action ran (Claude Code's PostToolUse): recorded once per decision
as an evidence record that names the decision, so the chain holds both the permission and its outcome."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404

from evidence.kinds import DECISION_OUTCOME
from evidence.models import Decision, EvidenceLeaf, EvidenceRecord
from evidence.services import evidence_append
from evidence.services.common import _lock_head  # the tenant chain lock: serialises the duplicate check

OUTCOMES = ("completed", "failed")


def decision_outcome_record(
    *,
    tenant,
    agent,
    decision_id: str,
    outcome: str,
    tool_use_id: str = "",
    response_sha256: str = "",
    detail: str = "",
) -> tuple[EvidenceRecord | EvidenceLeaf, bool]:
    """(record or pending leaf, created). Only the agent that asked may report; a second report returns the first."""
    if outcome not in OUTCOMES:
        raise ValidationError({"outcome": f"One of {', '.join(OUTCOMES)}."})
    decision = Decision.objects.filter(
        tenant=tenant, agent_ref=agent.public_id, public_id=decision_id
    ).first()
    if decision is None:
        raise Http404("No decision with this id belongs to this agent.")
    with transaction.atomic():
        _lock_head(tenant)  # serialises reports so a decision never gets two outcomes
        existing = (
            EvidenceRecord.objects.filter(
                tenant=tenant, kind=DECISION_OUTCOME, subject=decision.public_id
            ).first()
            or EvidenceLeaf.objects.filter(
                tenant=tenant, kind=DECISION_OUTCOME, subject=decision.public_id
            ).first()
        )
        if existing is not None:
            return existing, False
        record = evidence_append(
            tenant=tenant,
            kind=DECISION_OUTCOME,
            subject=decision.public_id,
            actor=f"agent:{agent.public_id}",
            payload={
                "decision_id": decision.public_id,
                "agent": agent.public_id,
                "decision": decision.decision,
                "outcome": outcome,
                "tool_use_id": tool_use_id[:200],
                "response_sha256": response_sha256[:64],
                "detail": detail[:1000],
            },
        )
    return record, True
