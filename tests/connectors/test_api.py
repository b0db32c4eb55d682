"""Connectors API: field errors by name, the secret never comes back, test and retry through the outbox."""

from __future__ import annotations

import json

import pytest

from core.models import OutboxMessage
from core.roles import Role
from evidence.models import EvidenceRecord
from tests.connectors import receivers as r

pytestmark = pytest.mark.django_db

BODY = {
    "name": "SOC webhook",
    "kind": "webhook",
    "url": "https://soc.example.test/hook",
    "secret": "whsec-very-secret-value",
    "event_types": ["decision", "break_glass"],
    "min_severity": "medium",
}


@pytest.fixture
def admin_api(acme, member, client_as):
    client = client_as(member(acme, Role.TENANT_ADMIN), acme)

    def call(method, path, body=None):
        return client.generic(
            method, f"/api/v1/connectors{path}", json.dumps(body or {}), content_type="application/json"
        )

    return call


def test_create_read_update_never_return_the_secret(admin_api, acme):
    created = admin_api("POST", "", BODY)
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["has_secret"] is True and "secret" not in data and "secret_encrypted" not in data
    assert data["id"].startswith("con_") and data["health"] == "unknown"
    for response in (admin_api("GET", ""), admin_api("GET", f"/{data['id']}")):
        assert b"whsec-very-secret-value" not in response.content and b"gAAAA" not in response.content
    updated = admin_api("PATCH", f"/{data['id']}", {"min_severity": "high", "secret": ""})
    assert updated.status_code == 200 and updated.json()["min_severity"] == "high"
    records = EvidenceRecord.objects.filter(tenant=acme, kind__startswith="connectors.")
    assert records.count() == 2
    assert all("whsec" not in json.dumps(rec.payload) and rec.payload["has_secret"] for rec in records)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "carrier_pigeon"}, "kind"),
        ({"url": "ftp://x.test/"}, "url"),
        ({"url": "https://user:pw@x.test/"}, "url"),
        ({"secret": ""}, "secret"),
        ({"event_types": []}, "event_types"),
        ({"event_types": ["everything"]}, "event_types"),
        ({"min_severity": "apocalyptic"}, "min_severity"),
        ({"kind": "sentinel", "options": {}}, "options"),
        ({"options": {"color": "red"}}, "options"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(admin_api, change, field):
    response = admin_api("POST", "", {**BODY, **change})
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert field in json.dumps(response.json())


def test_duplicate_name_is_a_400_on_name(admin_api):
    assert admin_api("POST", "", BODY).status_code == 201
    response = admin_api("POST", "", BODY)
    assert response.status_code == 400 and "name" in json.dumps(response.json())


def test_test_send_shows_failure_then_retry_delivers(
    admin_api, receivers, django_capture_on_commit_callbacks
):
    receiver = receivers(r.Receiver(r.check_webhook, "whsec-1234"))
    receiver.down = True
    connector = admin_api("POST", "", {**BODY, "url": receiver.url + "/hook", "secret": "whsec-1234"}).json()
    with django_capture_on_commit_callbacks(execute=True):
        sent = admin_api("POST", f"/{connector['id']}/test")
    assert sent.status_code == 202 and sent.json()["kind"] == "connector.test"
    # delivered on commit (inline here): the outbox shows the failed attempt
    assert admin_api("GET", f"/{connector['id']}").json()["health"] == "failing"
    outbox = admin_api("GET", f"/{connector['id']}/outbox?status=pending").json()
    [message] = outbox["results"]
    assert (
        message["id"] == sent.json()["id"]
        and message["attempts"] == 1
        and "HTTP 503" in message["last_error"]
    )
    assert message["attempt_log"][0]["ok"] is False and message["attempt_log"][0]["finished_at"]
    assert admin_api("GET", f"/{connector['id']}/outbox?status=lost").status_code == 400

    OutboxMessage.objects.filter(pk=message["id"]).update(status="failed")  # dead-lettered
    receiver.down = False
    with django_capture_on_commit_callbacks(execute=True):
        retried = admin_api("POST", f"/{connector['id']}/outbox/{message['id']}/retry")
    assert retried.status_code == 202 and retried.json()["retries"] == 1
    assert OutboxMessage.objects.get(pk=message["id"]).status == "sent"
    assert receiver.keys == [message["idempotency_key"]]
    again = admin_api("POST", f"/{connector['id']}/outbox/{message['id']}/retry")
    assert again.status_code == 400 and "message" in json.dumps(again.json())
