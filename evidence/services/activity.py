"""Evidence of agent activity: sessions opened and decisions made."""

from __future__ import annotations

from django.db import transaction

from evidence.models import (
    AgentSession,
    Decision,
)
from evidence.services.chain import _json_safe, evidence_append
from tenants.models import Tenant


def agent_session_open(
    *,
    tenant: Tenant,
    agent_ref: str = "",
    agent_name: str = "",
    repository: str = "",
    environment: str = "",
    metadata=None,
) -> AgentSession:
    with transaction.atomic():
        session = AgentSession.objects.create(
            tenant=tenant, agent_ref=agent_ref, agent_name=agent_name, repository=repository,
            environment=environment, metadata=_json_safe(metadata or {}),
        )  # fmt: skip
        evidence_append(
            tenant=tenant, kind="session.opened", subject=session.public_id, actor=f"agent:{agent_ref}" if agent_ref else None,
            payload={"session": session.public_id, "agent": agent_ref, "repository": repository, "environment": environment},
        )  # fmt: skip
    return session


def decision_record(
    *,
    tenant: Tenant,
    action: str,
    target: str,
    decision: str,
    session: AgentSession | None = None,
    agent_ref: str = "",
    repository: str = "",
    environment: str = "",
    rule_id: str = "",
    severity: str = "",
    reason: str = "",
    policy: dict | None = None,
    context: dict | None = None,
) -> Decision:
    """Write a Decision and its evidence record together; call inside the decision's transaction."""
    policy = policy or {}
    with transaction.atomic():
        row = Decision(
            tenant=tenant, session=session, agent_ref=agent_ref, action=action, target=target, repository=repository,
            environment=environment, decision=decision, rule_id=rule_id, severity=severity, reason=reason,
            policy_pack=policy.get("pack", ""), policy_version=str(policy.get("version", "")),
            policy_digest=policy.get("digest", ""), policy_mode=policy.get("mode", ""), context=_json_safe(context or {}),
        )  # fmt: skip
        payload = {
            "decision_id": row.public_id, "action": action, "target": target, "decision": decision,
            "rule_id": rule_id, "severity": severity, "reason": reason, "repository": repository,
            "environment": environment, "agent": agent_ref, "session": session.public_id if session else "",
            "policy": {"pack": row.policy_pack, "version": row.policy_version, "digest": row.policy_digest, "mode": row.policy_mode},
        }  # fmt: skip
        row.evidence = evidence_append(
            tenant=tenant, kind="decision.recorded", subject=row.public_id, payload=payload,
            actor=f"agent:{agent_ref}" if agent_ref else None,
        )  # fmt: skip
        row.created_at = row.evidence.created_at
        row.save(force_insert=True)
    return row
