"""Facts become connector messages in the same transaction: filtered, redacted, ordered, never lost."""

from __future__ import annotations

import pytest
from django.db import transaction

from approvals.services import approval_request_break_glass
from core.models import OutboxMessage
from core.outbox import outbox_deliver_due, outbox_message_deliver
from core.roles import Role
from evidence.models import EvidenceRecord
from tests.connectors import receivers as r
from tests.factories import (
    AgentFactory,
    ApprovalRequestFactory,
    ConnectorFactory,
    decision_recorded,
    recorded_decisions,
    session_opened,
)

pytestmark = pytest.mark.django_db


def _messages(connector):
    return list(OutboxMessage.objects.filter(destination=connector.destination).order_by("id"))


def test_a_decision_becomes_one_message_per_interested_connector(acme, globex):
    wants = ConnectorFactory(tenant=acme, event_types=["decision"], min_severity="high")
    too_high = ConnectorFactory(tenant=acme, event_types=["decision"], min_severity="critical")
    other_type = ConnectorFactory(tenant=acme, event_types=["finding"])
    off = ConnectorFactory(tenant=acme, event_types=["decision"], enabled=False)
    elsewhere = ConnectorFactory(tenant=globex, event_types=["decision"])
    session = session_opened(acme)
    decision = decision_recorded(
        acme,
        session,
        action="execute_command",
        target="rm -rf /srv/data",
        decision="block",
        severity="high",
        reason="destructive command",
    )
    [message] = _messages(wants)
    record = EvidenceRecord.objects.get(tenant=acme, subject=decision.public_id)
    assert message.idempotency_key == f"connector:{wants.pk}:{record.public_id}"
    event = message.payload
    assert event["type"] == "decision" and event["severity"] == "high" and event["id"] == record.public_id
    # standard redaction: no target, no reason; ids and outcome stay
    assert event["data"]["decision"] == "block" and event["data"]["decision_id"] == decision.public_id
    assert "target" not in event["data"] and "reason" not in event["data"]
    assert "rm -rf" not in str(event)
    for connector in (too_high, other_type, off, elsewhere):
        assert _messages(connector) == []


def test_a_rolled_back_decision_sends_nothing(acme):
    connector = ConnectorFactory(tenant=acme, event_types=["decision"])
    session = session_opened(acme)
    with pytest.raises(RuntimeError), transaction.atomic():
        decision_recorded(acme, session, action="read_file", target="a.py", decision="allow")
        raise RuntimeError("the cause fails after the fact")
    assert _messages(connector) == []


def test_redaction_levels(acme):
    full = ConnectorFactory(tenant=acme, event_types=["decision"], redaction="none")
    strict = ConnectorFactory(tenant=acme, event_types=["decision"], redaction="strict")
    decision_recorded(
        acme,
        session_opened(acme),
        action="execute_command",
        target="cat ~/.ssh/id_rsa",
        decision="block",
        severity="high",
        reason="secret read",
    )
    assert _messages(full)[0].payload["data"]["target"] == "cat ~/.ssh/id_rsa"
    strict_event = _messages(strict)[0].payload
    assert set(strict_event["data"]) <= {
        "decision_id",
        "decision",
        "agent",
        "session",
        "severity",
        "rule_id",
        "surface",
        "action",
        "repository",
        "environment",
        "approval",
        "status",
    }
    assert "id_rsa" not in str(strict_event)


def test_break_glass_reaches_chat_as_critical_with_a_link_to_the_approval(acme, member):
    chat = ConnectorFactory(
        tenant=acme,
        kind="slack",
        url="",
        secret="https://hooks.slack.test/services/T/B/X",
        event_types=["break_glass", "approval.pending"],
        min_severity="critical",
    )
    approval = ApprovalRequestFactory(
        agent=AgentFactory(tenant=acme), target="deploy.sh", policy_pack="baseline"
    )
    approval_request_break_glass(
        approval=approval, actor=member(acme, Role.TENANT_ADMIN), justification="Incident INC-7 needs it"
    )
    [message] = [m for m in _messages(chat) if m.kind == "connector.break_glass"]
    assert message.payload["severity"] == "critical"
    assert message.payload["url"].endswith(f"/approvals/{approval.public_id}/")
    assert "Incident INC-7" not in str(message.payload)  # the justification is redacted at "standard"


def test_receiver_down_then_up_delivers_each_once_in_order(acme, receivers):
    receiver = receivers(r.Receiver(r.check_webhook, "whsec-1234"))
    connector = ConnectorFactory(
        tenant=acme, url=receiver.url + "/hook", secret="whsec-1234", event_types=["decision"]
    )
    receiver.down = True
    recorded_decisions(acme, 6)
    messages = _messages(connector)
    assert len(messages) == 6
    outbox_message_deliver(message_id=messages[3].pk)  # any message's task tries the destination's head
    assert receiver.requests == 1 and receiver.keys == []  # the head failed; the rest waited behind it
    receiver.down = False
    OutboxMessage.objects.filter(destination=connector.destination).update(
        next_attempt_at=messages[0].created_at
    )
    assert outbox_deliver_due() == 1
    assert receiver.keys == [m.idempotency_key for m in messages] and receiver.duplicates() == {}
    # a sweep or a late task after delivery sends nothing again
    outbox_deliver_due()
    outbox_message_deliver(message_id=messages[5].pk)
    assert len(receiver.keys) == 6
