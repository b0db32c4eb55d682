"""The outbox: outbound messages written in the caller's transaction, delivered after commit with retries.

Any app may use it: `outbox_enqueue(tenant=..., kind="email.x", idempotency_key=..., recipients=[...],
subject=..., body=...)` inside its transaction. The row is written there; a Celery task is queued
only when the transaction commits, so a rolled-back change sends nothing and a broker outage loses
nothing (`outbox_deliver_due`, on beat, picks up whatever is still pending).

Delivery goes through a transport chosen by the kind's channel (the part before the first dot):
core ships `email`; an app adds another channel with `register_outbox_transport` in its
AppConfig.ready(). The tasks live here (not in a tasks module that imports back) so the enqueue ->
task -> deliver path has no import circle; core.tasks imports them for the worker.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from core.models import OutboxAttempt, OutboxMessage

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BASE_BACKOFF_SECONDS = 30
MAX_BACKOFF_SECONDS = 3600

_SECRET_PATTERNS = [
    re.compile(r"cvr_[A-Za-z0-9_\-]{6,}"),
    re.compile(r"(?i)(password|passwd|secret|token|api[_-]?key|authorization)(\s*[=:]\s*|\s+)(\S+)"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-~+/]+=*"),
    re.compile(r"://([^:/@\s]+):([^@/\s]+)@"),
]


def redact(text: str) -> str:
    """Remove tokens, passwords and credentials in URLs from an error text before it is stored."""
    text = str(text or "")
    text = _SECRET_PATTERNS[0].sub("cvr_***", text)
    text = _SECRET_PATTERNS[1].sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    text = _SECRET_PATTERNS[2].sub(lambda m: f"{m.group(1)}***", text)
    text = _SECRET_PATTERNS[3].sub(lambda m: f"://{m.group(1)}:***@", text)
    for value in (getattr(settings, "EMAIL_HOST_PASSWORD", ""),):
        if value:
            text = text.replace(value, "***")
    return text[:2000]


def backoff_seconds(attempts: int) -> int:
    return min(MAX_BACKOFF_SECONDS, BASE_BACKOFF_SECONDS * 2 ** max(0, attempts - 1))


# Task names kept from when the outbox lived in approvals: queued messages and beat rows still match.
OUTBOX_DELIVER_TASK = "approvals.outbox_deliver"
OUTBOX_SWEEP_TASK = "approvals.outbox_deliver_due"

Transport = Callable[[OutboxMessage], None]


class PermanentDeliveryError(Exception):
    """Raised by a transport when retrying cannot help (the receiver refused on the merits): give up now."""


_transports: dict[str, Transport] = {}


def register_outbox_transport(channel: str, transport: Transport) -> None:
    """`transport(message)` sends one message or raises; the outbox records, retries and redacts."""
    _transports[channel] = transport


def _email_transport(message: OutboxMessage) -> None:
    payload = message.payload or {}
    EmailMessage(
        subject=payload.get("subject", ""),
        body=payload.get("body", ""),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=list(payload.get("recipients", [])),
        headers={"X-CAVRA-Message": message.idempotency_key},
    ).send(fail_silently=False)


register_outbox_transport("email", _email_transport)


def _queue(message_id: int, countdown: int | None = None) -> None:
    try:
        if countdown:
            if outbox_deliver.app.conf.task_always_eager:
                return  # inline mode would retry at once; the beat sweep picks it up when due
            outbox_deliver.apply_async(args=[message_id], countdown=countdown)
        else:
            outbox_deliver.delay(message_id)
    except Exception:  # noqa: BLE001 - broker down: the row stays pending and the beat sweep delivers it
        logger.warning("outbox: could not queue message %s; the sweep will retry", message_id, exc_info=True)


def outbox_enqueue(
    *,
    tenant,
    kind: str,
    idempotency_key: str,
    recipients: list[str],
    subject: str,
    body: str,
) -> OutboxMessage | None:
    """Write one e-mail to the outbox in the current transaction; deliver it after commit.

    The same idempotency key twice is one message (the first). No recipients: nothing is written.
    """
    recipients = sorted({r.strip().lower() for r in recipients if r and r.strip()})
    if not recipients:
        return None
    payload = {"recipients": recipients, "subject": subject[:250], "body": body}
    return outbox_enqueue_payload(tenant=tenant, kind=kind, idempotency_key=idempotency_key, payload=payload)


def outbox_enqueue_payload(*, tenant, kind: str, idempotency_key: str, payload: dict) -> OutboxMessage:
    """Write one message of any channel (its transport reads `payload`) in the current transaction."""
    with transaction.atomic():
        message, created = OutboxMessage.objects.get_or_create(
            idempotency_key=idempotency_key[:200],
            defaults={"tenant": tenant, "kind": kind, "payload": payload},
        )
        if created:
            transaction.on_commit(lambda: _queue(message.pk))
    return message


def outbox_message_deliver(*, message_id: int) -> OutboxMessage | None:
    """One delivery attempt; records it; on failure schedules the next with exponential backoff."""
    with transaction.atomic():
        message = OutboxMessage.objects.select_for_update(skip_locked=True).filter(pk=message_id).first()
        if message is None or message.status != OutboxMessage.Status.PENDING:
            return message
        number = message.attempts + 1
        error, permanent = "", False
        try:
            transport = _transports.get(message.kind.split(".", 1)[0])
            if transport is None:
                raise LookupError(f"no outbox transport for kind {message.kind!r}")
            transport(message)
        except Exception as exc:  # noqa: BLE001 - any transport failure is recorded and retried
            error = redact(f"{type(exc).__name__}: {exc}")
            permanent = isinstance(exc, PermanentDeliveryError)
        now = timezone.now()
        OutboxAttempt.objects.create(
            message=message, number=number, started_at=now, ok=not error, error=error
        )
        message.attempts = number
        retry_in = None
        if not error:
            message.status = OutboxMessage.Status.SENT
            message.sent_at = now
            message.last_error = ""
        else:
            message.last_error = error
            if number >= MAX_ATTEMPTS or permanent:
                message.status = OutboxMessage.Status.FAILED
            else:
                retry_in = backoff_seconds(number)
                message.next_attempt_at = now + timedelta(seconds=retry_in)
        message.save(update_fields=["attempts", "status", "sent_at", "last_error", "next_attempt_at"])
    if retry_in is not None:
        logger.warning("outbox: message %s attempt %s failed; retry in %ss", message_id, number, retry_in)
        transaction.on_commit(lambda: _queue(message_id, countdown=retry_in))
    return message


def outbox_deliver_due(*, limit: int = 200) -> int:
    """Queue every pending message whose next attempt is due (crash or broker outage recovery)."""
    ids = list(
        OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for message_id in ids:
        _queue(message_id)
    return len(ids)


@shared_task(name=OUTBOX_DELIVER_TASK, acks_late=True)
def outbox_deliver(message_id: int) -> str:
    message = outbox_message_deliver(message_id=message_id)
    return message.status if message is not None else "missing"


@shared_task(name=OUTBOX_SWEEP_TASK)
def outbox_deliver_due_task() -> int:
    return outbox_deliver_due()
