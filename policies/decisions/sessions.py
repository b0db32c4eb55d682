"""Agent sessions: the one writer of AgentSession rows (open, and the "last seen" touch)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction

from evidence.kinds import SESSION_OPENED
from evidence.models import AgentSession
from evidence.services import evidence_append
from policies.decisions.types import Caller, DecisionInput, DecisionInputError

SESSION_TOUCH_INTERVAL = timedelta(minutes=1)


def session_open(
    *,
    tenant,
    agent_ref: str,
    agent_name: str = "",
    repository: str = "",
    environment: str = "",
    metadata: dict | None = None,
) -> AgentSession:
    """An agent starts a working session; its decisions can then be grouped and bundled by session."""
    with transaction.atomic():
        session = AgentSession.objects.create(
            tenant=tenant,
            agent_ref=agent_ref,
            agent_name=agent_name,
            repository=repository or "",
            environment=(environment or "").lower(),
            metadata=metadata or {},
        )
        evidence_append(
            tenant=tenant,
            kind=SESSION_OPENED,
            subject=session.public_id,
            payload={
                "session": session.public_id,
                "agent": agent_ref,
                "repository": repository or None,
                "environment": environment or None,
            },
            actor=f"agent:{agent_ref}",
        )
    return session


def session_for_decision(caller: Caller, data: DecisionInput) -> AgentSession | None:
    """The session the request names, if it is this agent's; another agent's is reported as missing."""
    if not data.session_id:
        return None
    # No ORDER BY: public_id is unique, so `.first()`'s ordering would only cost.
    session = next(
        iter(AgentSession.objects.filter(tenant=caller.tenant, public_id=data.session_id)[:1]), None
    )
    if session is None or (session.agent_ref and session.agent_ref != caller.agent.public_id):
        raise DecisionInputError(
            "session_id", "No session with this id belongs to this agent; open one first."
        )
    return session


def session_touch(session: AgentSession | None, now: datetime) -> None:
    # At most once a minute: "last seen" need not cost a write on every decision.
    if session is not None and session.last_seen_at < now - SESSION_TOUCH_INTERVAL:
        AgentSession.objects.filter(pk=session.pk).update(last_seen_at=now)
