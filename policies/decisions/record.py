"""Step: record. The one writer of Decision rows: the row and its evidence leaf, in the caller's transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from cavra_engine.policy import Verdict
from cavra_engine.policy.vocabulary import REQUIRE_APPROVAL
from cavra_engine.surfaces import classify_surface
from evidence.kinds import DECISION_RECORDED
from evidence.models import Decision
from evidence.services import evidence_append
from policies.decisions.evaluate import action_request
from policies.decisions.sessions import session_touch
from policies.decisions.types import DecisionInput, DecisionOutcome, PolicyRef

MAX_TARGET_STORED = 10000


@dataclass(frozen=True)
class DecisionFacts:
    """Everything recorded about one decision; `verdict.decision` is the final answer."""

    agent_ref: str
    agent_name: str
    data: DecisionInput
    verdict: Verdict
    policy: PolicyRef
    action_digest: str
    would_have: dict | None = None
    approval: Any = None
    # A decision made offline from a signed bundle and uploaded from the agent's spool (`cavra sync`):
    # {seq, hash, prev_hash, bundle, decided_at} of the spool entry; decided_at becomes created_at.
    offline: dict | None = None
    agent_profile: str | None = None


def decision_row(tenant, facts: DecisionFacts, session) -> Decision:
    """The unsaved Decision, with the deciding rule's compliance control ids and the action's surface."""
    data, verdict, policy = facts.data, facts.verdict, facts.policy
    return Decision(
        tenant=tenant,
        session=session,
        agent_ref=facts.agent_ref,
        action=data.action,
        target=data.target[:MAX_TARGET_STORED],
        repository=data.repository or "",
        environment=data.environment or "",
        decision=verdict.decision,
        rule_id=verdict.rule_id or "",
        severity=verdict.severity,
        reason=verdict.reason,
        policy_pack=policy.pack,
        policy_version=policy.version,
        policy_digest=policy.digest,
        policy_mode=policy.mode,
        compliance={framework: list(ids) for framework, ids in (verdict.compliance or {}).items()},
        surface=classify_surface(data.action, verdict.rule_id, verdict.normalised_target),
        created_at=_decided_at(facts) or timezone.now(),
        context={
            "normalised_target": verdict.normalised_target,
            "matched_segment": verdict.matched_segment,
            "action_digest": facts.action_digest,
            "would_have": facts.would_have,
            "agent_name": facts.agent_name,
            "request_context": data.context or {},
            "mcp": data.mcp,
            "git": {"operation": data.operation, "branch": data.branch, "force": data.force}
            if data.operation
            else None,
            **({"offline": True, "spool": facts.offline} if facts.offline else {}),
            # What shadow replay needs to evaluate this exact request again under another policy.
            "replay": {
                "agent_profile": facts.agent_profile,
                "git": action_request(data, None).git,
                "method": data.method,
            },
        },
    )


def _decided_at(facts: DecisionFacts):
    from django.utils.dateparse import parse_datetime

    return parse_datetime(facts.offline["decided_at"]) if facts.offline else None


def evidence_payload(decision: Decision, facts: DecisionFacts, session, approval) -> dict:
    data, verdict = facts.data, facts.verdict
    return {
        "decision_id": decision.public_id,
        "agent": facts.agent_ref,
        "session": session.public_id if session else None,
        "action": data.action,
        "target": data.target[:MAX_TARGET_STORED],
        "normalised_target": verdict.normalised_target,
        "repository": data.repository,
        "environment": data.environment,
        "decision": verdict.decision,
        "rule_id": verdict.rule_id,
        "severity": verdict.severity,
        "reason": verdict.reason,
        "policy": facts.policy.as_dict(),
        "action_digest": facts.action_digest,
        "approval": approval.public_id if approval is not None else None,
        "would_have": facts.would_have,
        **({"offline": facts.offline} if facts.offline else {}),
        "compliance": decision.compliance,
        "surface": decision.surface,
    }


def decision_record(
    *,
    tenant,
    facts: DecisionFacts,
    session=None,
    open_approval: Callable[[Decision, Any], Any] | None = None,
) -> DecisionOutcome:
    """Write the Decision and its one evidence leaf (kind `decision.recorded`); call inside a transaction.

    A require_approval without an approval in hand opens one through `open_approval(decision, session)`,
    which needs the saved row, so that path saves first and links the evidence after.
    """
    decision = decision_row(tenant, facts, session)
    session_touch(session, timezone.now())
    approval = facts.approval
    opens_approval = open_approval is not None and decision.decision == REQUIRE_APPROVAL and approval is None
    if opens_approval:
        decision.save(force_insert=True)
        approval = open_approval(decision, session)
    leaf = evidence_append(
        tenant=tenant,
        kind=DECISION_RECORDED,
        subject=decision.public_id,
        payload=evidence_payload(decision, facts, session, approval),
        actor=f"agent:{facts.agent_ref}",
        with_row=None if opens_approval else decision,  # the common path: Decision and leaf in one INSERT
    )
    # The integration links the Decision to its record: at once when inline, else when the sequencer runs.
    record = leaf.record
    decision.evidence = record
    if opens_approval and record is not None:
        Decision.objects.filter(pk=decision.pk).update(evidence=record)
    return DecisionOutcome(
        decision,
        approval,
        evidence_id=leaf.public_id,
        leaf_hash=leaf.leaf_hash,
        evidence_seq=record.seq if record else None,
        evidence_hash=record.hash if record else None,
        would_have=facts.would_have,
    )
