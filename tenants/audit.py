"""The audit trail: one AuditEntry per change, forwarded to sinks (the evidence chain) in the same transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import models, transaction

from tenants.models import AuditEntry, Tenant, User

AuditSink = Callable[..., Any]
_sinks: list[AuditSink] = []


def register_audit_sink(sink: AuditSink) -> None:
    """A higher app (evidence) subscribes here at start-up; tenants never imports it."""
    if sink not in _sinks:
        _sinks.append(sink)


def record_audit(
    *,
    tenant: Tenant | None,
    actor: User | None,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEntry:
    """Write the audit row and hand it to every sink; must run inside the caller's transaction."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk or "")
        object_repr = object_repr or str(obj)[:300]
    actor_label = ""
    if actor is not None and getattr(actor, "is_authenticated", False):
        actor_label = actor.email
    else:
        actor = None
    with transaction.atomic():
        entry = AuditEntry.objects.create(
            tenant=tenant,
            actor=actor,
            actor_label=actor_label or "system",
            action=action,
            object_type=object_type,
            object_id=object_id,
            object_repr=object_repr,
            before=before,
            after=after,
        )
        if tenant is not None:
            for sink in _sinks:
                sink(
                    tenant=tenant,
                    kind=f"audit.{action}",
                    subject=f"{object_type}:{object_id}",
                    payload={"object": object_repr, "before": before, "after": after},
                    actor=actor,
                )
    return entry
