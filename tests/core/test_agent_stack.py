"""Agent requests to /api/ take the lean middleware stack; people keep the page stack on the same URLs."""

from __future__ import annotations

import json

import pytest
from django.db import OperationalError

from core.agent_stack import AgentApiStackMiddleware
from tests.factories import AgentCredentialFactory, AgentFactory
from tests.support.clients import bearer_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_client(acme):
    return bearer_client(AgentCredentialFactory(agent=AgentFactory(tenant=acme, name="lean-bot")).plaintext)


def _ask(client):
    return client.post(
        "/api/v1/decisions",
        json.dumps({"action": "read_file", "target": "README.md"}),
        content_type="application/json",
    )


def test_agent_request_skips_the_page_middleware(agent_client, monkeypatch):
    from django.contrib.sessions.middleware import SessionMiddleware

    def refuse(self, request):
        raise AssertionError("the session middleware ran for an agent request")

    monkeypatch.setattr(SessionMiddleware, "process_request", refuse)
    response = _ask(agent_client)
    assert response.status_code == 200 and response.json()["decision"] in ("allow", "block")
    # Neither sessions (Vary: Cookie) nor CSP, clickjacking or CSRF middleware touched the answer.
    assert "Cookie" not in response.get("Vary", "")
    assert "Content-Security-Policy" not in response and "X-Frame-Options" not in response
    assert not response.cookies


def test_agent_authentication_errors_are_unchanged(db):
    refused = _ask(bearer_client("cvr_" + "x" * 40))
    assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Bearer")
    assert refused["Content-Type"] == "application/problem+json"


def test_people_keep_the_page_stack_on_the_same_url(client, acme, member):
    user = member(acme, "auditor", email="auditor@acme.test")
    client.force_login(user)
    response = client.get("/api/v1/decisions")
    assert response.status_code == 200
    assert "Cookie" in response.get("Vary", "")
    assert client.post("/api/v1/decisions", "{}", content_type="application/json").status_code == 401


def test_agent_stack_still_fails_closed(acme, monkeypatch):
    """A failure inside the lean stack is still a 503 + block (FailClosedMiddleware wraps both stacks)."""

    def broken(self, request):
        raise OperationalError("database down")

    monkeypatch.setattr("core.agent_stack.AgentRequestDefaults.__call__", broken)
    token = AgentCredentialFactory(agent=AgentFactory(tenant=acme, name="down-bot")).plaintext
    response = _ask(bearer_client(token, raise_request_exception=False))
    assert response.status_code == 503 and response.json()["decision"] == "block"


def test_middleware_routes_by_path_and_credential(rf):
    seen = []
    stack = AgentApiStackMiddleware(lambda request: seen.append("page") or request)
    stack.agent_stack = lambda request: seen.append("agent") or request
    stack(rf.post("/api/v1/decisions", HTTP_AUTHORIZATION="Bearer cvr_abc"))
    stack(rf.post("/api/v1/decisions", HTTP_AUTHORIZATION="Bearer cvp_abc"))  # a person's token
    stack(rf.get("/api/v1/decisions"))  # a session or anonymous
    stack(rf.get("/registry/", HTTP_AUTHORIZATION="Bearer cvr_abc"))  # a page, whoever asks
    assert seen == ["agent", "page", "page", "page"]
