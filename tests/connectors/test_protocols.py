"""Each connector kind delivers to a local receiver that validates it like the real service."""

from __future__ import annotations

import base64

import pytest

from connectors.services import connector_test_send
from core.models import OutboxMessage
from core.outbox import outbox_message_deliver
from tests.connectors import receivers as r
from tests.factories import ConnectorFactory

pytestmark = pytest.mark.django_db

SENTINEL_KEY = base64.b64encode(b"sentinel-shared-key-for-tests-0123456789").decode()

CASES = {
    "splunk_hec": (r.check_splunk_hec, "hec-token-1234", {}, ""),
    "sentinel": (r.check_sentinel, SENTINEL_KEY, {"workspace_id": "ws-1234", "log_type": "CavraEvents"}, ""),
    "datadog": (r.check_datadog, "dd-api-key-1234", {}, "/api/v2/logs"),
    "webhook": (r.check_webhook, "whsec-1234", {}, "/hooks/cavra"),
    "servicenow": (r.check_servicenow, "sn-password-1234", {"username": "cavra.integration"}, ""),
    "jira": (r.check_jira, "jira-api-token-1234", {"project_key": "SEC", "username": "bot@example.test"}, ""),
}


def _deliver(message: OutboxMessage) -> OutboxMessage:
    outbox_message_deliver(message_id=message.pk)
    message.refresh_from_db()
    return message


@pytest.mark.parametrize("kind", sorted(CASES))
def test_each_kind_passes_its_receivers_validation(kind, acme, receivers):
    check, secret, options, path = CASES[kind]
    receiver = receivers(r.Receiver(check, secret))
    connector = ConnectorFactory(
        tenant=acme, kind=kind, url=receiver.url + path, secret=secret, options=options
    )
    message = _deliver(connector_test_send(connector=connector, actor=None))
    assert message.status == "sent", (message.last_error, receiver.rejections)
    assert receiver.keys == [message.idempotency_key]
    connector.refresh_from_db()
    assert connector.health == "healthy" and connector.last_success_at


@pytest.mark.parametrize("kind", sorted(CASES))
def test_a_wrong_secret_is_refused_by_the_receiver_and_the_secret_is_not_recorded(kind, acme, receivers):
    check, secret, options, path = CASES[kind]
    receiver = receivers(r.Receiver(check, secret))
    wrong = (
        base64.b64encode(b"another-key-entirely-000000000000").decode()
        if kind == "sentinel"
        else "wrong-secret-9876"
    )
    connector = ConnectorFactory(
        tenant=acme, kind=kind, url=receiver.url + path, secret=wrong, options=options
    )
    message = _deliver(connector_test_send(connector=connector, actor=None))
    assert message.status == "pending" and message.attempts == 1
    assert receiver.rejections and receiver.rejections[0][0] in (401, 403)
    attempt = message.attempt_log.get()
    connector.refresh_from_db()
    for text in (attempt.error, message.last_error, connector.last_error):
        assert "HTTP 40" in text and wrong not in text
    assert connector.health == "failing"


@pytest.mark.parametrize("kind", ["slack", "teams"])
def test_chat_messages_link_to_the_page_and_the_webhook_url_is_the_secret(kind, acme, receivers):
    path = "/services/T000/B000/XXXXsecret" if kind == "slack" else "/webhookb2/abc@def/IncomingWebhook/xyz"
    receiver = receivers(r.Receiver(r.check_slack if kind == "slack" else r.check_teams, path))
    connector = ConnectorFactory(tenant=acme, kind=kind, url="", secret=receiver.url + path)
    assert connector.url == "" and path not in connector.secret_encrypted
    message = _deliver(connector_test_send(connector=connector, actor=None))
    assert message.status == "sent", (message.last_error, receiver.rejections)
    assert receiver.keys == [message.idempotency_key]

    receiver.stop()  # the failure text must not reveal the webhook URL
    message = _deliver(connector_test_send(connector=connector, actor=None))
    assert (
        message.status == "pending"
        and path not in message.last_error
        and "XXXXsecret" not in message.last_error
    )


def test_splunk_batches_several_events_in_one_request(acme, receivers):
    receiver = receivers(r.Receiver(r.check_splunk_hec, "hec-token-1234"))
    connector = ConnectorFactory(tenant=acme, kind="splunk_hec", url=receiver.url, secret="hec-token-1234")
    messages = [connector_test_send(connector=connector, actor=None) for _ in range(5)]
    _deliver(messages[0])
    assert receiver.requests == 1 and receiver.keys == [m.idempotency_key for m in messages]

    connector.batching = False
    connector.save()
    more = [connector_test_send(connector=connector, actor=None) for _ in range(3)]
    _deliver(more[0])
    assert receiver.requests == 4
