"""The outbox: outbound messages written in the caller's transaction, delivered after commit with retries.

Any app may use it, inside its own transaction:
`outbox_enqueue_message(tenant=..., kind="<channel>.<purpose>", idempotency_key=..., payload={...},
destination="connector:12")` (or `outbox_enqueue(...)` for a plain e-mail). The row is written there; a
Celery task is queued only when the transaction commits, so a rolled-back change sends nothing and a
broker outage loses nothing (`outbox_deliver_due`, on beat, picks up whatever is still pending).

Delivery goes through a transport chosen by the kind's channel (the part before the first dot): core
ships `email`; an app adds another channel with `register_outbox_transport` (one message at a time) or
`register_outbox_batch_transport` (several in one request, e.g. Splunk HEC) in its AppConfig.ready().
Messages sharing a destination are delivered strictly in id order by one worker at a time (a
PostgreSQL advisory lock per destination); a failure stops that destination's queue until the retry.
Each attempt is recorded (errors redacted); after the retry budget the message is a dead letter
(status `failed`) until someone retries it. Delivery is at least once: a worker killed between the
send and its commit sends again, with the same idempotency key, so the receiver drops the repeat.
The tasks live here (not in a tasks module that imports back) so enqueue -> task -> deliver has no
import circle; core.tasks imports them for the worker.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import connection, transaction
from django.utils import timezone

from core.models import OutboxAttempt, OutboxMessage

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BASE_BACKOFF_SECONDS = 30
MAX_BACKOFF_SECONDS = 3600
BUSY_REQUEUE_SECONDS = 1

_SECRET_PATTERNS = [
    re.compile(r"cvr_[A-Za-z0-9_\-]{6,}"),
    re.compile(r"(?i)(password|passwd|secret|token|api[_-]?key|authorization)(\s*[=:]\s*|\s+)(\S+)"),
    re.compile(r"(?i)(bearer\s+|splunk\s+|sharedkey\s+|basic\s+)[A-Za-z0-9._\-~+/:]+=*"),
    re.compile(r"://([^:/@\s]+):([^@/\s]+)@"),
]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove tokens, passwords, credentials in URLs and the given secret values from a text before it is stored."""
    text = str(text or "")
    for value in [*secrets, getattr(settings, "EMAIL_HOST_PASSWORD", "")]:
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    text = _SECRET_PATTERNS[0].sub("cvr_***", text)
    text = _SECRET_PATTERNS[1].sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    text = _SECRET_PATTERNS[2].sub(lambda m: f"{m.group(1)}***", text)
    text = _SECRET_PATTERNS[3].sub(lambda m: f"://{m.group(1)}:***@", text)
    return text[:2000]


def backoff_seconds(attempts: int) -> int:
    return min(MAX_BACKOFF_SECONDS, BASE_BACKOFF_SECONDS * 2 ** max(0, attempts - 1))


# Task names kept from when the outbox lived in approvals: queued messages and beat rows still match.
OUTBOX_DELIVER_TASK = "approvals.outbox_deliver"
OUTBOX_SWEEP_TASK = "approvals.outbox_deliver_due"

Transport = Callable[[OutboxMessage], None]
BatchTransport = Callable[[list[OutboxMessage]], None]
DeadLetterHandler = Callable[[OutboxMessage], None]


class PermanentDeliveryError(Exception):
    """Raised by a transport when retrying cannot help (the receiver refused on the merits): give up now."""


@dataclass(frozen=True)
class _Channel:
    send: BatchTransport
    batch_size: Callable[[str], int]  # by destination


_channels: dict[str, _Channel] = {}
_dead_letter_handlers: dict[str, DeadLetterHandler] = {}


def register_outbox_transport(channel: str, transport: Transport) -> None:
    """`transport(message)` sends one message or raises; the outbox records, retries and redacts."""

    def send_each(messages: list[OutboxMessage]) -> None:
        for message in messages:
            transport(message)

    _channels[channel] = _Channel(send=send_each, batch_size=lambda destination: 1)


def register_outbox_batch_transport(
    channel: str, transport: BatchTransport, *, batch_size: Callable[[str], int]
) -> None:
    """`transport(messages)` sends up to `batch_size(destination)` messages of one destination in one request, or raises."""
    _channels[channel] = _Channel(send=transport, batch_size=batch_size)


def register_outbox_dead_letter_handler(channel: str, handler: DeadLetterHandler) -> None:
    """`handler(message)` runs in the transaction that makes a message of this channel a dead letter."""
    _dead_letter_handlers[channel] = handler


def _channel_of(message: OutboxMessage) -> str:
    return message.kind.split(".", 1)[0]


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


def outbox_enqueue_message(
    *, tenant, kind: str, idempotency_key: str, payload: dict, destination: str = ""
) -> OutboxMessage:
    """Write one message to the outbox in the current transaction; deliver it after commit.

    The same idempotency key twice is one message (the first). The payload must hold no secret: it
    is stored in clear and shown on the outbox page.
    """
    with transaction.atomic():
        message, created = OutboxMessage.objects.get_or_create(
            idempotency_key=idempotency_key[:200],
            defaults={"tenant": tenant, "kind": kind, "payload": payload, "destination": destination[:120]},
        )
        if created:
            transaction.on_commit(lambda: _queue(message.pk))
    return message


def outbox_enqueue_payload(*, tenant, kind: str, idempotency_key: str, payload: dict) -> OutboxMessage:
    """Write one unordered message of any channel (its transport reads `payload`) in the current transaction."""
    return outbox_enqueue_message(tenant=tenant, kind=kind, idempotency_key=idempotency_key, payload=payload)


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
    return outbox_enqueue_message(
        tenant=tenant,
        kind=kind,
        idempotency_key=idempotency_key,
        payload={"recipients": recipients, "subject": subject[:250], "body": body},
    )


def _record(messages: list[OutboxMessage], error: str, started_at, permanent: bool = False) -> int | None:
    """Record one attempt per message; returns the seconds until the next attempt, or None."""
    now = timezone.now()
    OutboxAttempt.objects.bulk_create(
        OutboxAttempt(
            message=m,
            number=m.attempts + 1,
            started_at=started_at,
            finished_at=now,
            ok=not error,
            error=error,
        )
        for m in messages
    )
    retry_in = None
    for message in messages:
        message.attempts += 1
        if not error:
            message.status, message.sent_at, message.last_error = OutboxMessage.Status.SENT, now, ""
        else:
            message.last_error = error
            if permanent or message.attempts >= MAX_ATTEMPTS * (message.retries + 1):
                message.status = OutboxMessage.Status.FAILED
                handler = _dead_letter_handlers.get(_channel_of(message))
                if handler is not None:
                    handler(message)
            else:
                retry_in = backoff_seconds(message.attempts - MAX_ATTEMPTS * message.retries)
                message.next_attempt_at = now + timedelta(seconds=retry_in)
    OutboxMessage.objects.bulk_update(
        messages, ["attempts", "status", "sent_at", "last_error", "next_attempt_at"]
    )
    return retry_in


def _send(messages: list[OutboxMessage]) -> tuple[str, bool]:
    """(error text, permanent): ("", False) when sent."""
    channel = _channels.get(_channel_of(messages[0]))
    try:
        if channel is None:
            raise LookupError(f"no outbox transport for kind {messages[0].kind!r}")
        channel.send(messages)
    except Exception as exc:  # noqa: BLE001 - any transport failure is recorded and retried
        error = redact(f"{type(exc).__name__}: {exc}") or type(exc).__name__
        return error, isinstance(exc, PermanentDeliveryError)
    return "", False


def _destination_lock(destination: str) -> bool:
    """One worker per destination at a time (held until the transaction ends); SQLite is single-process."""
    if connection.vendor != "postgresql":
        return True
    key = int.from_bytes(hashlib.sha256(destination.encode()).digest()[:8], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [key])
        return bool(cursor.fetchone()[0])


def _deliver_destination_batch(destination: str) -> tuple[str, int | None]:
    """Deliver the head of one destination's queue. Returns (state, retry_in): state is
    "busy" (another worker holds it), "idle" (nothing due), "sent" or "failed"."""
    with transaction.atomic():
        if not _destination_lock(destination):
            return "busy", None
        pending = OutboxMessage.objects.filter(destination=destination, status=OutboxMessage.Status.PENDING)
        head = pending.order_by("id").first()
        if head is None or head.next_attempt_at > timezone.now():
            return "idle", None
        channel = _channels.get(_channel_of(head))
        size = max(1, channel.batch_size(destination)) if channel else 1
        batch = [
            m
            for m in pending.select_for_update().order_by("id")[:size]
            if m.next_attempt_at <= timezone.now() and m.kind.split(".", 1)[0] == _channel_of(head)
        ]
        started_at = timezone.now()
        error, permanent = _send(batch)
        retry_in = _record(batch, error, started_at, permanent)
    return ("failed" if error else "sent"), retry_in


def outbox_destination_deliver(*, destination: str, max_batches: int = 1000) -> str:
    """Drain one destination's queue in order, batch after batch, until it is empty, not due, or fails."""
    state = "idle"
    for _ in range(max_batches):
        state, retry_in = _deliver_destination_batch(destination)
        if state == "failed" and retry_in is None:
            continue  # the head became a dead letter: it steps aside and the queue goes on
        if state == "failed":
            if retry_in is not None:
                head = (
                    OutboxMessage.objects.filter(destination=destination, status=OutboxMessage.Status.PENDING)
                    .order_by("id")
                    .values_list("pk", flat=True)
                    .first()
                )
                if head is not None:
                    transaction.on_commit(partial(_queue, head, countdown=retry_in))
            return state
        if state in ("busy", "idle"):
            return state
    return state


def outbox_message_deliver(*, message_id: int) -> OutboxMessage | None:
    """One delivery attempt (a destination's whole due queue for an ordered message); records it;
    on failure schedules the next with exponential backoff."""
    message = OutboxMessage.objects.filter(pk=message_id).first()
    if message is None or message.status != OutboxMessage.Status.PENDING:
        return message
    if message.destination:
        if outbox_destination_deliver(destination=message.destination) == "busy":
            # another worker is draining this destination; come back if it has not reached this one
            transaction.on_commit(lambda: _queue(message_id, countdown=BUSY_REQUEUE_SECONDS))
        message.refresh_from_db()
        return message
    with transaction.atomic():
        message = OutboxMessage.objects.select_for_update(skip_locked=True).filter(pk=message_id).first()
        if message is None or message.status != OutboxMessage.Status.PENDING:
            return message
        started_at = timezone.now()
        error, permanent = _send([message])
        retry_in = _record([message], error, started_at, permanent)
    if retry_in is not None:
        logger.warning(
            "outbox: message %s attempt %s failed; retry in %ss", message_id, message.attempts, retry_in
        )
        transaction.on_commit(lambda: _queue(message_id, countdown=retry_in))
    return message


def outbox_message_retry(*, message: OutboxMessage) -> OutboxMessage:
    """Give a dead letter (or a waiting message) one more retry budget and deliver it now."""
    with transaction.atomic():
        locked = OutboxMessage.objects.select_for_update().get(pk=message.pk)
        if locked.status == OutboxMessage.Status.SENT:
            return locked
        if locked.status == OutboxMessage.Status.FAILED:
            locked.retries += 1
        locked.status = OutboxMessage.Status.PENDING
        locked.next_attempt_at = timezone.now()
        locked.save(update_fields=["retries", "status", "next_attempt_at"])
        transaction.on_commit(lambda: _queue(locked.pk))
    return locked


def outbox_deliver_due(*, limit: int = 200) -> int:
    """Queue every pending message whose next attempt is due (crash or broker outage recovery).

    An ordered destination needs one task for its head, not one per message."""
    rows = (
        OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("pk", "destination")[:limit]
    )
    seen: set[str] = set()
    queued = 0
    for message_id, destination in rows:
        if destination:
            if destination in seen:
                continue
            seen.add(destination)
        _queue(message_id)
        queued += 1
    return queued


@shared_task(name=OUTBOX_DELIVER_TASK, acks_late=True)
def outbox_deliver(message_id: int) -> str:
    message = outbox_message_deliver(message_id=message_id)
    return message.status if message is not None else "missing"


@shared_task(name=OUTBOX_SWEEP_TASK)
def outbox_deliver_due_task() -> int:
    return outbox_deliver_due()
