"""Audit hooks for code in core (the admin base): a before/after snapshot, and the writer an app registers.

core never imports an app, so the writer of the audit trail (tenants.audit.record_audit, which also
feeds the evidence chain) is registered at start-up by the tenants app.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import models

AuditWriter = Callable[..., Any]
_writer: list[AuditWriter] = []


def register_audit_writer(writer: AuditWriter) -> None:
    _writer[:] = [writer]


def audit(**kwargs) -> Any:
    """Write one audit entry through the registered writer (tenant, actor, action, obj, before, after)."""
    if not _writer:
        raise ImproperlyConfigured("No audit writer registered (the tenants app registers one in ready()).")
    return _writer[0](**kwargs)


def model_snapshot(obj: models.Model | None) -> dict | None:
    """A JSON-safe picture of a row's concrete fields, secrets masked, for before/after."""
    if obj is None:
        return None
    data: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        name = field.attname
        value = getattr(obj, name)
        if any(word in field.name for word in ("password", "secret", "token_hash", "private")):
            value = "***" if value else ""
        elif value is not None and not isinstance(value, (str, int, float, bool, list, dict)):
            value = str(value)
        data[field.name] = value
    return data
