"""The outbox: idempotent, delivered after commit, retried with backoff, every attempt recorded, secrets redacted."""

from __future__ import annotations

import socket

import pytest
from django.core import mail

from core import outbox
from core.models import OutboxMessage
from core.outbox import (
    backoff_seconds,
    outbox_deliver_due,
    outbox_enqueue,
    outbox_enqueue_message,
    outbox_message_deliver,
    outbox_message_retry,
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
    monkeypatch.setattr(outbox, "_channels", dict(outbox._channels))
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


@pytest.fixture
def channels(monkeypatch):
    from core import outbox

    monkeypatch.setattr(outbox, "_channels", dict(outbox._channels))
    monkeypatch.setattr(outbox, "_dead_letter_handlers", dict(outbox._dead_letter_handlers))
    return outbox


def _enqueue(tenant, key, destination="dest:1", kind="test.event"):
    return outbox_enqueue_message(
        tenant=tenant, kind=kind, idempotency_key=key, payload={"n": key}, destination=destination
    )


def test_one_destination_is_delivered_in_order_and_a_failure_holds_the_rest(acme, channels):
    received, down = [], {"on": True}

    def send(message):
        if down["on"]:
            raise ConnectionRefusedError("receiver down, token=s3cr3t-value")
        received.append(message.idempotency_key)

    channels.register_outbox_transport("test", send)
    messages = [_enqueue(acme, f"o{i}") for i in range(3)]
    # the third message's task runs first: the destination's head goes first, and fails
    outbox_message_deliver(message_id=messages[2].pk)
    states = {m.pk: (m.status, m.attempts) for m in OutboxMessage.objects.filter(destination="dest:1")}
    assert states == {
        messages[0].pk: ("pending", 1),
        messages[1].pk: ("pending", 0),
        messages[2].pk: ("pending", 0),
    }
    attempt = messages[0].attempt_log.get()
    assert "s3cr3t" not in attempt.error and attempt.finished_at >= attempt.started_at

    down["on"] = False
    OutboxMessage.objects.filter(pk=messages[0].pk).update(next_attempt_at=attempt.started_at)
    assert outbox_deliver_due() == 1  # one task for the destination, not one per message
    assert received == ["o0", "o1", "o2"]
    assert set(OutboxMessage.objects.filter(destination="dest:1").values_list("status", flat=True)) == {
        "sent"
    }


def test_batch_transport_sends_several_in_one_call(acme, channels):
    calls = []
    channels.register_outbox_batch_transport(
        "test", lambda messages: calls.append([m.idempotency_key for m in messages]), batch_size=lambda d: 2
    )
    messages = [_enqueue(acme, f"b{i}") for i in range(5)]
    outbox_message_deliver(message_id=messages[0].pk)
    assert calls == [["b0", "b1"], ["b2", "b3"], ["b4"]]


def test_dead_letter_after_the_budget_then_retry_gives_a_new_budget(
    acme, channels, django_capture_on_commit_callbacks
):
    dead = []
    channels.register_outbox_transport("test", lambda message: (_ for _ in ()).throw(TimeoutError("slow")))
    channels.register_outbox_dead_letter_handler("test", lambda message: dead.append(message.idempotency_key))
    first, second = _enqueue(acme, "d0"), _enqueue(acme, "d1")
    OutboxMessage.objects.filter(pk=first.pk).update(attempts=outbox.MAX_ATTEMPTS - 1)
    outbox_message_deliver(message_id=first.pk)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == "failed" and dead == ["d0"]
    # the dead letter steps aside: the next message of the destination was tried
    assert second.attempts == 1 and second.status == "pending"

    channels.register_outbox_transport("test", lambda message: None)
    with django_capture_on_commit_callbacks(execute=True):
        outbox_message_retry(message=first)  # queued on commit (inline in tests)
    first.refresh_from_db()
    assert first.status == "sent" and first.retries == 1 and first.attempts == outbox.MAX_ATTEMPTS + 1
    assert outbox_message_retry(message=first).status == "sent"  # retrying a sent message changes nothing
