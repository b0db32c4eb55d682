"""The approval API (session + CSRF for reviewers, bearer token for agents) and the reviewer pages."""

from __future__ import annotations

import json
import time

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from approvals.models import ApprovalRequest
from approvals.services import approval_request_approve
from core.roles import Role
from tenants.middleware import SESSION_KEY
from tests.factories import AgentCredentialFactory, AgentFactory, ApprovalRequestFactory
from tests.support.clients import bearer_client

pytestmark = pytest.mark.django_db

WORKFLOW = ".github/workflows/ci.yml"


@pytest.fixture
def world(acme, member):
    owner = member(acme, Role.OPERATOR)
    agent = AgentFactory(tenant=acme, owner=owner, name="bot")
    alice = member(acme, Role.SECURITY_REVIEWER, email="alice@acme.test")
    bob = member(acme, Role.SECURITY_REVIEWER, email="bob@acme.test")
    admin = member(acme, Role.TENANT_ADMIN, email="admin@acme.test")
    return type("World", (), {"agent": agent, "alice": alice, "bob": bob, "admin": admin, "owner": owner})


def csrf_client(user, tenant) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    session = client.session
    session[SESSION_KEY] = tenant.pk
    session.save()
    client.get("/approvals/")  # sets the csrftoken cookie
    return client


def post_json(client, url, data, csrf=True):
    headers = {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value} if csrf else {}
    return client.post(url, json.dumps(data), content_type="application/json", **headers)


def test_queue_api_orders_most_severe_then_newest(acme, world, client_as):
    low = ApprovalRequestFactory(tenant=acme, agent=world.agent, target=WORKFLOW, severity="low")
    crit = ApprovalRequestFactory(tenant=acme, agent=world.agent, target=WORKFLOW, severity="critical")
    high_old = ApprovalRequestFactory(tenant=acme, agent=world.agent, target=WORKFLOW, severity="high")
    high_new = ApprovalRequestFactory(tenant=acme, agent=world.agent, target=WORKFLOW, severity="high")
    response = client_as(world.alice, acme).get("/api/v1/approvals")
    assert response.status_code == 200
    ids = [r["id"] for r in response.json()["results"]]
    assert ids == [crit.public_id, high_new.public_id, high_old.public_id, low.public_id]
    first = response.json()["results"][0]
    assert first["agent"]["name"] == "bot" and first["status"] == "pending" and first["url"].endswith("/")


def test_approve_needs_csrf_and_stale_deny_is_a_409_problem(acme, world):
    approval = ApprovalRequestFactory(tenant=acme, agent=world.agent, target=WORKFLOW)
    alice = csrf_client(world.alice, acme)
    url = f"/api/v1/approvals/{approval.public_id}/approve"
    assert post_json(alice, url, {"reason": "ok"}, csrf=False).status_code == 403
    response = post_json(alice, url, {"reason": "ok"})
    assert response.status_code == 200 and response.json()["status"] == "approved"
    bob = csrf_client(world.bob, acme)
    stale = post_json(bob, f"/api/v1/approvals/{approval.public_id}/deny", {"reason": "no"})
    assert stale.status_code == 409
    assert stale["Content-Type"] == "application/problem+json"
    assert "already approved by alice@acme.test" in stale.json()["detail"]


def test_reason_required_and_break_glass_errors_name_the_field(acme, world, client_as):
    approval = ApprovalRequestFactory(tenant=acme, agent=world.agent, target=WORKFLOW)
    response = client_as(world.alice, acme).post(
        f"/api/v1/approvals/{approval.public_id}/approve", {}, content_type="application/json"
    )
    assert response.status_code == 400 and "reason" in response.json()["errors"]
    admin = client_as(world.admin, acme)
    response = admin.post(
        "/api/v1/approvals/break-glass",
        {"approval_id": approval.public_id, "justification": "x"},
        content_type="application/json",
    )
    assert response.status_code == 400 and "justification" in response.json()["errors"]
    response = admin.post(
        "/api/v1/approvals/break-glass", {"approval_id": "apr_nope", "justification": "x" * 20},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 404
    response = admin.post(
        "/api/v1/approvals/break-glass",
        {"approval_id": approval.public_id, "justification": "Incident INC-9, outage ongoing"},
        content_type="application/json",
    )
    assert response.status_code == 200 and response.json()["break_glass"] is True
    assert response.json()["status"] == "break_glass"


def test_agent_reads_its_own_approval_and_long_polls(acme, world):
    approval = ApprovalRequestFactory(tenant=acme, agent=world.agent, target=WORKFLOW)
    agent_client = bearer_client(AgentCredentialFactory(agent=world.agent).plaintext)
    url = f"/api/v1/approvals/{approval.public_id}"
    response = agent_client.get(url)
    assert response.status_code == 200 and response.json()["status"] == "pending"
    assert agent_client.get(url, {"wait": "31"}).json()["errors"] == {
        "wait": ["Give whole seconds from 0 to 30."]
    }
    assert agent_client.get(url, {"wait": "soon"}).status_code == 400
    # Pending and unchanged: waits (briefly here) and returns the same state.
    started = time.monotonic()
    assert agent_client.get(url, {"wait": "1"}).json()["status"] == "pending"
    assert 0.9 < time.monotonic() - started < 15
    approval_request_approve(approval=approval, actor=world.alice, reason="ok")
    # Without a wait, a decided request answers at once (the bound is loose so that load cannot fail it).
    started = time.monotonic()
    denied_or_approved = agent_client.get(url, {"wait": "0"}).json()
    assert denied_or_approved["status"] == "approved" and time.monotonic() - started < 15
    # Another agent's request is as absent as a missing one; agents cannot use reviewer endpoints.
    other = ApprovalRequestFactory(tenant=acme, agent=AgentFactory(tenant=acme), target=WORKFLOW)
    assert agent_client.get(f"/api/v1/approvals/{other.public_id}").status_code == 404
    assert agent_client.get("/api/v1/approvals").status_code == 403
    assert agent_client.post(f"/api/v1/approvals/{other.public_id}/approve").status_code == 403


def test_queue_page_and_api_have_a_fixed_query_count(acme, world, client_as):
    client = client_as(world.alice, acme)
    ApprovalRequestFactory(tenant=acme, agent=world.agent, target=WORKFLOW)
    client.get("/approvals/")
    counts = []
    for extra in (0, 5):
        for _ in range(extra):
            ApprovalRequestFactory(tenant=acme, agent=world.agent, target=WORKFLOW)
        for url in ("/approvals/", "/api/v1/approvals"):
            with CaptureQueriesContext(connection) as ctx:
                assert client.get(url).status_code == 200
            counts.append(len(ctx))
    assert counts[0] == counts[2] and counts[1] == counts[3], counts


def test_queue_poll_answers_204_when_unchanged(acme, world, client_as):
    client = client_as(world.alice, acme)
    ApprovalRequestFactory(tenant=acme, agent=world.agent, target=WORKFLOW)
    page = client.get("/approvals/", HTTP_HX_REQUEST="true")
    assert page.status_code == 200
    version = page.content.decode().split('data-poll-version="', 1)[1].split('"', 1)[0]
    assert client.get("/approvals/", {"v": version}, HTTP_HX_REQUEST="true").status_code == 204
    ApprovalRequestFactory(tenant=acme, agent=world.agent, target=WORKFLOW)
    assert client.get("/approvals/", {"v": version}, HTTP_HX_REQUEST="true").status_code == 200


def test_inline_review_and_stale_click_in_the_page(acme, world, client_as):
    approval = ApprovalRequestFactory(tenant=acme, agent=world.agent, target=WORKFLOW)
    url = f"/approvals/{approval.public_id}/review/"
    ok = client_as(world.alice, acme).post(
        url, {"verdict": "approve", "reason": "fine"}, HTTP_HX_REQUEST="true"
    )
    assert ok.status_code == 200 and 'data-testid="row-done"' in ok.content.decode()
    stale = client_as(world.bob, acme).post(url, {"verdict": "deny", "reason": "no"}, HTTP_HX_REQUEST="true")
    assert "already approved by alice@acme.test" in stale.content.decode()
    plain = client_as(world.bob, acme).post(url, {"verdict": "deny", "reason": "no"})
    assert plain.status_code == 409 and "your denial was not recorded" in plain.content.decode()
    assert ApprovalRequest.objects.get(pk=approval.pk).status == "approved"


def test_detail_and_history_pages(acme, world, client_as):
    approval = ApprovalRequestFactory(tenant=acme, agent=world.agent, target=WORKFLOW, repository="acme/api")
    ApprovalRequestFactory(tenant=acme, agent=world.agent, target=WORKFLOW, repository="acme/web")
    approval_request_approve(approval=approval, actor=world.alice, reason="ok")
    client = client_as(world.admin, acme)
    detail = client.get(f"/approvals/{approval.public_id}/").content.decode()
    assert "approval.opened" in detail and "approval.approved" in detail and WORKFLOW in detail
    history = client.get("/approvals/history/", {"status": "approved", "reviewer": "alice@acme.test"})
    assert approval.public_id in history.content.decode()
    assert (
        client.get("/approvals/history/", {"repository": "acme/web"}).content.decode().count("data-approval=")
        == 1
    )
    bad = client.get("/approvals/history/", {"since": "last tuesday"})
    assert bad.status_code == 400 and "Use a date" in bad.content.decode()


def test_home_panel_lists_my_pending_approvals(acme, world, client_as):
    approval = ApprovalRequestFactory(tenant=acme, agent=world.agent, target=WORKFLOW)
    home = client_as(world.alice, acme).get("/").content.decode()
    assert "Pending approvals for me" in home and approval.public_id in home
