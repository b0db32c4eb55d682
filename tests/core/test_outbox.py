"""The outbox: idempotent, delivered after commit, retried with backoff, every attempt recorded, secrets redacted."""

from __future__ import annotations

import socket

import pytest
from django.core import mail

from core.models import OutboxMessage
from core.outbox import (
    backoff_seconds,
    outbox_deliver_due,
    outbox_enqueue,
    outbox_message_deliver,
    redact,
)

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_same_key_is_one_message(acme):
    a = outbox_enqueue(
        tenant=acme, kind="email.test", idempotency_key="k1", recipients=["A@x.test"], subject="s", body="b"
    )
    b = outbox_enqueue(
        tenant=acme, kind="email.test", idempotency_key="k1", recipients=["b@x.test"], subject="s", body="b"
    )
    assert a.pk == b.pk and a.payload["recipients"] == ["a@x.test"]
    assert (
        outbox_enqueue(
            tenant=acme, kind="email.test", idempotency_key="k2", recipients=[], subject="s", body="b"
        )
        is None
    )


def test_failed_delivery_is_recorded_redacted_and_retried_later(acme, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = _closed_port()
    settings.EMAIL_TIMEOUT = 2
    message = outbox_enqueue(
        tenant=acme, kind="email.test", idempotency_key="k3", recipients=["a@x.test"], subject="s", body="b"
    )
    outbox_message_deliver(message_id=message.pk)
    message.refresh_from_db()
    assert message.status == "pending" and message.attempts == 1 and message.last_error
    attempt = message.attempt_log.get()
    assert not attempt.ok and "refused" in attempt.error.lower()
    assert message.next_attempt_at > attempt.started_at
    assert outbox_deliver_due() == 0  # not due yet

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=attempt.started_at)
    assert outbox_deliver_due() == 1  # the sweep re-queues it (inline in tests)
    message.refresh_from_db()
    assert message.status == "sent" and message.attempts == 2 and len(mail.outbox) == 1
    assert [a.ok for a in message.attempt_log.all()] == [False, True]


def test_redaction_and_backoff():
    text = redact("auth failed: password=hunter2 token cvr_abcdefghijkl Bearer xyz.abc smtp://u:pw@host")
    for secret in ("hunter2", "cvr_abcdefghijkl", "xyz.abc", ":pw@"):
        assert secret not in text
    assert [backoff_seconds(n) for n in (1, 2, 3)] == [30, 60, 120] and backoff_seconds(20) == 3600


def test_delivery_goes_through_the_transport_of_the_kinds_channel(acme, monkeypatch):
    from core import outbox

    sent = []
    monkeypatch.setattr(outbox, "_transports", dict(outbox._transports))
    outbox.register_outbox_transport("hook", lambda message: sent.append(message.idempotency_key))
    hooked = outbox_enqueue(
        tenant=acme, kind="hook.test", idempotency_key="h1", recipients=["a@x.test"], subject="s", body="b"
    )
    outbox_message_deliver(message_id=hooked.pk)
    hooked.refresh_from_db()
    assert sent == ["h1"] and hooked.status == "sent"

    stray = outbox_enqueue(
        tenant=acme, kind="pigeon.test", idempotency_key="p1", recipients=["a@x.test"], subject="s", body="b"
    )
    outbox_message_deliver(message_id=stray.pk)
    stray.refresh_from_db()
    assert stray.status == "pending" and "no outbox transport for kind 'pigeon.test'" in stray.last_error
