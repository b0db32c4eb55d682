"""Agent tokens: issue, revoke and rotate; the plaintext is returned once and stored only hashed."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.authz import authorize_actor
from registry.models import (
    Agent,
    AgentCredential,
)
from registry.services.common import TOKEN_PREFIX, TOKEN_VISIBLE_CHARS, _actor, token_hash
from tenants.audit import record_audit
from tenants.models import User


def _new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def agent_credential_issue(
    *, agent: Agent, actor: User | None, expires_at: datetime | None = None, label: str = ""
) -> tuple[AgentCredential, str]:
    """A fresh token for the agent; the plaintext is returned here and never stored or shown again."""
    authorize_actor(actor, agent.tenant, "registry.manage_agents")
    if agent.status == Agent.Status.RETIRED:
        raise ValidationError({"agent": f"{agent.name} is retired; it cannot get new tokens."})
    if expires_at is not None:
        if timezone.is_naive(expires_at):
            raise ValidationError({"expires_at": "Give a time zone (e.g. 2030-01-01T00:00:00Z)."})
        if expires_at <= timezone.now():
            raise ValidationError({"expires_at": "The expiry must be in the future."})
        if expires_at > timezone.now() + timedelta(days=3660):
            raise ValidationError({"expires_at": "The expiry must be within ten years."})
    label = str(label or "").strip()
    if len(label) > 100:
        raise ValidationError({"label": "At most 100 characters."})
    plaintext = _new_token()
    with transaction.atomic():
        credential = AgentCredential.objects.create(
            tenant=agent.tenant,
            agent=agent,
            token_hash=token_hash(plaintext),
            prefix=plaintext[:TOKEN_VISIBLE_CHARS],
            label=label,
            created_by=_actor(actor),
            expires_at=expires_at,
        )
        record_audit(
            tenant=agent.tenant,
            actor=_actor(actor),
            action="registry.credential.issue",
            obj=credential,
            object_repr=f"{credential.prefix}… for {agent.name}",
            after={"agent": agent.public_id, "prefix": credential.prefix, "expires_at": _iso(expires_at)},
        )
    return credential, plaintext


def agent_credential_revoke(*, credential: AgentCredential, actor: User | None) -> AgentCredential:
    """Revoke now; the next request with this token is refused (nothing caches a valid lookup)."""
    authorize_actor(actor, credential.tenant, "registry.manage_agents")
    with transaction.atomic():
        current = AgentCredential.objects.select_for_update().select_related("agent").get(pk=credential.pk)
        if current.revoked_at is not None:
            return current
        current.revoked_at = timezone.now()
        current.revoked_by = _actor(actor)
        current.save(update_fields=["revoked_at", "revoked_by"])
        record_audit(
            tenant=current.tenant,
            actor=_actor(actor),
            action="registry.credential.revoke",
            obj=current,
            object_repr=f"{current.prefix}… for {current.agent.name}",
            before={"revoked_at": None},
            after={"revoked_at": _iso(current.revoked_at)},
        )
    credential.revoked_at = current.revoked_at
    credential.revoked_by = current.revoked_by
    return current


def agent_credential_rotate(
    *, credential: AgentCredential, actor: User | None, expires_at: datetime | None = None
) -> tuple[AgentCredential, str]:
    """Issue a replacement and revoke the old token in one transaction."""
    with transaction.atomic():
        old = AgentCredential.objects.select_for_update().select_related("agent").get(pk=credential.pk)
        if old.revoked_at is not None:
            raise ValidationError({"credential": "This token is already revoked; issue a new one instead."})
        new, plaintext = agent_credential_issue(
            agent=old.agent, actor=actor, expires_at=expires_at, label=old.label
        )
        agent_credential_revoke(credential=old, actor=actor)
        AgentCredential.objects.filter(pk=old.pk).update(replaced_by=new)
    credential.revoked_at = timezone.now()
    return new, plaintext


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
