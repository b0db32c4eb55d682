"""Which facts become connector events, how they are redacted, and the listener that enqueues them.

A fact (an evidence record being appended, core.events) becomes at most one event type. For every
enabled connector of the tenant that subscribes to that type at or above its severity threshold, one
outbox message is written in the same transaction, keyed `connector:<pk>:<evidence id>` so it is
sent once per connector however often delivery is retried.
"""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from cavra_engine.policy.vocabulary import SEVERITY_RANK
from connectors.models import Connector
from connectors.subscriptions import Subscription, subscriptions_for
from core.events import Fact
from core.outbox import outbox_enqueue_message

# event type -> label
EVENT_TYPES: dict[str, str] = {
    "decision": "Decisions (every allow, block, require-approval)",
    "approval.pending": "Approval requests waiting for a reviewer",
    "approval.decided": "Approvals approved, denied, expired or cancelled",
    "break_glass": "Break-glass: an action allowed without review",
    "finding": "Posture findings opened or re-opened",
}
TEST_EVENT = "test"

_KIND_TO_TYPE = {
    "decision.recorded": "decision",
    "approval.opened": "approval.pending",
    "approval.approved": "approval.decided",
    "approval.denied": "approval.decided",
    "approval.expired": "approval.decided",
    "approval.cancelled": "approval.decided",
    "approval.break_glass": "break_glass",
    "aispm.finding.opened": "finding",
    "aispm.finding.reopened": "finding",
}

# Payload members that may carry what an agent typed or touched: dropped at "standard".
_SENSITIVE = {
    "target",
    "normalised_target",
    "reason",
    "justification",
    "notes",
    "arguments",
    "command",
    "path",
}
# The only members kept at "strict".
_STRICT_KEEP = {
    "decision_id",
    "decision",
    "approval",
    "agent",
    "session",
    "finding",
    "check",
    "severity",
    "status",
    "rule_id",
    "surface",
    "action",
    "repository",
    "environment",
}


def redact_payload(payload: dict, level: str) -> dict:
    if level == Connector.Redaction.NONE:
        return dict(payload)
    if level == Connector.Redaction.STRICT:
        return {k: v for k, v in payload.items() if k in _STRICT_KEEP}
    return {k: v for k, v in payload.items() if k not in _SENSITIVE}


def _severity(event_type: str, payload: dict) -> str:
    if event_type == "break_glass":
        return "critical"
    severity = payload.get("severity")
    return severity if severity in SEVERITY_RANK else "medium"


def _link(payload: dict) -> str:
    base = getattr(settings, "PORTAL_BASE_URL", "").rstrip("/")
    if payload.get("approval"):
        return base + reverse("approvals:detail", kwargs={"public_id": payload["approval"]})
    if payload.get("finding"):
        return base + reverse("aispm:finding", kwargs={"public_id": payload["finding"]})
    return ""


def _summary(event_type: str, fact_kind: str, payload: dict) -> str:
    what = payload.get("action") or payload.get("check") or fact_kind
    if event_type == "decision":
        return f"Decision {payload.get('decision', '?')}: {what} by {payload.get('agent') or 'an agent'}"
    if event_type == "approval.pending":
        return f"Approval needed: {what} by {payload.get('agent') or 'a person'}"
    if event_type == "break_glass":
        return f"BREAK-GLASS: {what} allowed without review"
    if event_type == TEST_EVENT:
        return "Test message from CAVRA Portal: this connector works"
    if event_type == "finding":
        return f"Finding {payload.get('status', 'open')}: {payload.get('check', '')} on {payload.get('subject', '')}"
    return f"Approval {fact_kind.split('.', 1)[-1]}: {what}"


def event_document(*, event_id, event_type, fact_kind, subject, payload, time, tenant, level) -> dict:
    """The event as every protocol carries it (redacted for the connector's level)."""
    return {
        "id": event_id,
        "type": event_type,
        "evidence_kind": fact_kind,
        "subject": subject,
        "severity": _severity(event_type, payload),
        "time": time.isoformat().replace("+00:00", "Z"),
        "tenant": getattr(tenant, "slug", str(tenant)),
        "summary": _summary(event_type, fact_kind, redact_payload(payload, level)),
        "url": _link(payload),
        "data": redact_payload(payload, level),
    }


def connector_wants(connector: Connector | Subscription, event_type: str, severity: str) -> bool:
    return (
        connector.enabled
        and event_type in (connector.event_types or [])
        and SEVERITY_RANK[severity] >= SEVERITY_RANK.get(connector.min_severity, 1)
    )


def connectors_hear(fact: Fact) -> None:
    """Fact listener (runs in the fact's transaction): one outbox message per interested connector.

    The tenant's connectors come from connectors.subscriptions (cached, dropped on every change), so a
    fact costs no query unless it is sent somewhere."""
    event_type = _KIND_TO_TYPE.get(fact.kind)
    if event_type is None:
        return
    severity = _severity(event_type, fact.payload)
    for connector in subscriptions_for(fact.tenant.pk):
        if not connector_wants(connector, event_type, severity):
            continue
        outbox_enqueue_message(
            tenant=fact.tenant,
            kind=f"connector.{event_type}",
            idempotency_key=f"connector:{connector.pk}:{fact.record_id}",
            destination=connector.destination,
            payload=event_document(
                event_id=fact.record_id,
                event_type=event_type,
                fact_kind=fact.kind,
                subject=fact.subject,
                payload=fact.payload,
                time=fact.created_at,
                tenant=fact.tenant,
                level=connector.redaction,
            ),
        )
