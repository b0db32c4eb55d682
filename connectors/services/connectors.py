"""Configuring connectors. The secret is encrypted here and never leaves in clear; evidence records
the change with `has_secret` only."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from cavra_engine.policy.vocabulary import SEVERITIES
from connectors.events import EVENT_TYPES, TEST_EVENT, event_document
from connectors.models import Connector
from core.models import OutboxMessage
from core.outbox import outbox_enqueue_message, outbox_message_retry
from core.secrets import secret_encrypt
from evidence.services import evidence_append

# Settings each kind accepts in `options` (all text, none secret); the required ones first.
OPTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    Connector.Kind.SPLUNK_HEC: ((), ("index", "sourcetype")),
    Connector.Kind.SENTINEL: (("workspace_id",), ("log_type",)),
    Connector.Kind.DATADOG: ((), ("service",)),
    Connector.Kind.WEBHOOK: ((), ()),
    Connector.Kind.SERVICENOW: (("username",), ()),
    Connector.Kind.JIRA: (("project_key",), ("username", "issue_type")),
    Connector.Kind.SLACK: ((), ()),
    Connector.Kind.TEAMS: ((), ()),
}
# Chat webhooks: the URL is the secret (anyone holding it may post), so it is stored encrypted.
SECRET_IS_URL = {Connector.Kind.SLACK, Connector.Kind.TEAMS}
FIELDS = ("name", "kind", "url", "options", "event_types", "min_severity", "redaction", "batching", "enabled")


def _http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.username


def _clean(values: dict, *, creating: bool, has_secret: bool) -> dict:
    errors: dict[str, str] = {}
    name = str(values.get("name") or "").strip()
    if not name:
        errors["name"] = "A name is required."
    elif len(name) > 100:
        errors["name"] = "At most 100 characters."
    kind = values.get("kind")
    if kind not in Connector.Kind.values:
        errors["kind"] = f"Choose one of: {', '.join(Connector.Kind.values)}."
    url = str(values.get("url") or "").strip()
    if kind in SECRET_IS_URL:
        url = ""
    elif not url:
        errors["url"] = "The receiver's URL is required."
    elif not _http_url(url) or len(url) > 500:
        errors["url"] = "An http(s) URL without credentials in it (the secret goes in its own field)."
    options = values.get("options") or {}
    if not isinstance(options, dict) or not all(isinstance(v, str) for v in options.values()):
        errors["options"] = "Options are a JSON object of text values."
        options = {}
    elif kind in OPTIONS:
        required, optional = OPTIONS[kind]
        unknown = sorted(set(options) - set(required) - set(optional))
        missing = [k for k in required if not str(options.get(k, "")).strip()]
        if unknown:
            errors["options"] = f"Unknown option(s) for {kind}: {', '.join(unknown)}."
        elif missing:
            errors["options"] = f"Required for {kind}: {', '.join(missing)}."
        options = {k: v.strip()[:200] for k, v in options.items() if v.strip()}
    event_types = values.get("event_types") or []
    if not isinstance(event_types, list) or not event_types or not set(event_types) <= set(EVENT_TYPES):
        errors["event_types"] = f"Choose at least one of: {', '.join(EVENT_TYPES)}."
    if values.get("min_severity", SEVERITIES[0]) not in SEVERITIES:
        errors["min_severity"] = f"Choose one of: {', '.join(SEVERITIES)}."
    if values.get("redaction", Connector.Redaction.STANDARD) not in Connector.Redaction.values:
        errors["redaction"] = f"Choose one of: {', '.join(Connector.Redaction.values)}."
    if creating and not has_secret:
        errors["secret"] = (
            "The webhook URL is required." if kind in SECRET_IS_URL else "The secret is required."
        )
    if errors:
        raise ValidationError(errors)
    return {
        "name": name,
        "kind": kind,
        "url": url,
        "options": options,
        "event_types": sorted(set(event_types)),
        "min_severity": values.get("min_severity", SEVERITIES[0]),
        "redaction": values.get("redaction", Connector.Redaction.STANDARD),
        "batching": bool(values.get("batching", True)),
        "enabled": bool(values.get("enabled", True)),
    }


def _clean_secret(kind: str, secret: str | None) -> str | None:
    if secret is None or secret == "":
        return None
    secret = secret.strip()
    if len(secret) > 2000:
        raise ValidationError({"secret": "At most 2000 characters."})
    if kind in SECRET_IS_URL and not _http_url(secret):
        raise ValidationError({"secret": "The chat webhook URL must be an http(s) URL."})
    return secret


def _evidence(connector: Connector, verb: str, actor) -> None:
    evidence_append(
        tenant=connector.tenant,
        kind=f"connectors.connector_{verb}",
        subject=connector.public_id,
        payload={
            "connector": connector.public_id,
            "name": connector.name,
            "connector_kind": connector.kind,
            "event_types": connector.event_types,
            "min_severity": connector.min_severity,
            "redaction": connector.redaction,
            "enabled": connector.enabled,
            "has_secret": bool(connector.secret_encrypted),
        },
        actor=actor,
    )


def _save(connector: Connector) -> None:
    try:
        with transaction.atomic():
            connector.save()
    except IntegrityError as exc:
        raise ValidationError({"name": "Another connector of this tenant has that name."}) from exc


def connector_create(*, tenant, actor, values: dict, secret: str | None) -> Connector:
    secret = _clean_secret(values.get("kind", ""), secret)
    cleaned = _clean(values, creating=True, has_secret=bool(secret))
    with transaction.atomic():
        connector = Connector(tenant=tenant, created_by=actor, **cleaned)
        connector.secret_encrypted = secret_encrypt(secret)
        _save(connector)
        _evidence(connector, "created", actor)
    return connector


def connector_update(*, connector: Connector, actor, values: dict, secret: str | None = None) -> Connector:
    """Fields not given keep their value; an empty secret keeps the stored one."""
    merged = {field: values.get(field, getattr(connector, field)) for field in FIELDS}
    merged["kind"] = connector.kind  # a connector does not change kind: its secret means something else
    secret = _clean_secret(connector.kind, secret)
    cleaned = _clean(merged, creating=False, has_secret=True)
    with transaction.atomic():
        connector = Connector.objects.select_for_update().get(pk=connector.pk, tenant=connector.tenant)
        for field, value in cleaned.items():
            setattr(connector, field, value)
        if secret:
            connector.secret_encrypted = secret_encrypt(secret)
        connector.updated_at = timezone.now()
        _save(connector)
        _evidence(connector, "updated", actor)
    return connector


def connector_delete(*, connector: Connector, actor) -> None:
    """Pending messages of the connector become dead letters (their destination is gone)."""
    with transaction.atomic():
        _evidence(connector, "deleted", actor)
        OutboxMessage.objects.filter(
            destination=connector.destination, status=OutboxMessage.Status.PENDING
        ).update(status=OutboxMessage.Status.FAILED, last_error="the connector was deleted")
        connector.delete()


def connector_test_send(*, connector: Connector, actor) -> OutboxMessage:
    """A test event through the outbox, in order behind what is already queued for this connector."""
    now = timezone.now()
    event_id = "test_" + secrets.token_hex(8)
    with transaction.atomic():
        return outbox_enqueue_message(
            tenant=connector.tenant,
            kind=f"connector.{TEST_EVENT}",
            idempotency_key=f"connector:{connector.pk}:{event_id}",
            destination=connector.destination,
            payload=event_document(
                event_id=event_id,
                event_type=TEST_EVENT,
                fact_kind="connectors.test",
                subject=connector.public_id,
                payload={"connector": connector.public_id, "requested_by": getattr(actor, "email", "")},
                time=now,
                tenant=connector.tenant,
                level=Connector.Redaction.NONE,
            ),
        )


def connector_message_retry(*, connector: Connector, message: OutboxMessage, actor) -> OutboxMessage:
    if message.destination != connector.destination or message.tenant_id != connector.tenant_id:
        raise ValidationError({"message": "This message does not belong to this connector."})
    if message.status == OutboxMessage.Status.SENT:
        raise ValidationError({"message": "This message was delivered; there is nothing to retry."})
    return outbox_message_retry(message=message)
