"""Agent tokens: accepted, refused (wrong, revoked on the very next request, expired, retired), tenant-bound."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from registry.models import AgentCredential
from registry.services import agent_credential_revoke, agent_credential_rotate, agent_update, token_hash
from tests.factories import AgentCredentialFactory, AgentFactory, McpServerFactory
from tests.support.clients import bearer_client

pytestmark = pytest.mark.django_db


def _problem_401(response, words: str):
    assert response.status_code == 401, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert words in response.json()["detail"]


def test_valid_token_authenticates_as_its_agent(acme):
    agent = AgentFactory(tenant=acme, name="claude-alice")
    token = AgentCredentialFactory(agent=agent).plaintext
    assert token.startswith("cvr_") and len(token) > 40
    response = bearer_client(token).get("/api/v1/agents")
    assert response.status_code == 200
    assert [a["name"] for a in response.json()["results"]] == ["claude-alice"]  # an agent sees only itself
    credential = AgentCredential.objects.get(agent=agent)
    assert credential.token_hash == token_hash(token) and credential.prefix == token[:12]
    assert token not in str(AgentCredential.objects.filter(pk=credential.pk).values().first())
    credential.refresh_from_db()
    agent.refresh_from_db()
    assert credential.last_used_at is not None and agent.last_seen_at == credential.last_used_at


def test_last_used_is_written_at_most_once_a_minute(acme, monkeypatch):
    agent = AgentFactory(tenant=acme)
    client = bearer_client(AgentCredentialFactory(agent=agent).plaintext)
    client.get("/api/v1/agents")
    first = AgentCredential.objects.get(agent=agent).last_used_at
    client.get("/api/v1/agents")
    assert AgentCredential.objects.get(agent=agent).last_used_at == first
    # Two minutes later (the credential is served from the in-process cache, which keeps its own
    # copy of last_used_at, so time moves rather than the stored row being backdated behind it).
    later = first + timedelta(minutes=2)
    monkeypatch.setattr("registry.authentication.timezone.now", lambda: later)
    client.get("/api/v1/agents")
    assert AgentCredential.objects.get(agent=agent).last_used_at == later


@pytest.mark.parametrize(
    "header, words",
    [
        ("Bearer cvr_" + "x" * 43, "Invalid or unknown"),
        ("Bearer not-a-cavra-token", "start with 'cvr_'"),
        ("Bearer", "Malformed"),
        ("Bearer a b", "Malformed"),
    ],
)
def test_wrong_tokens_get_401_problem(acme, client, header, words):
    _problem_401(client.get("/api/v1/agents", HTTP_AUTHORIZATION=header), words)


def test_no_credentials_is_401_with_bearer_challenge(db, client):
    response = client.get("/api/v1/agents")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")


def test_revocation_takes_effect_on_the_next_request(acme):
    agent = AgentFactory(tenant=acme)
    token = AgentCredentialFactory(agent=agent).plaintext
    client = bearer_client(token)
    assert client.get("/api/v1/agents").status_code == 200
    agent_credential_revoke(credential=AgentCredential.objects.get(agent=agent), actor=None)
    _problem_401(client.get("/api/v1/agents"), "revoked")


def test_rotation_issues_a_new_token_and_kills_the_old(acme):
    agent = AgentFactory(tenant=acme)
    old_token = AgentCredentialFactory(agent=agent).plaintext
    old = AgentCredential.objects.get(agent=agent)
    new, new_token = agent_credential_rotate(credential=old, actor=None)
    _problem_401(bearer_client(old_token).get("/api/v1/agents"), "revoked")
    assert bearer_client(new_token).get("/api/v1/agents").status_code == 200
    old.refresh_from_db()
    assert old.replaced_by_id == new.pk


def test_expired_token_is_refused(acme):
    agent = AgentFactory(tenant=acme)
    token = AgentCredentialFactory(agent=agent, expires_at=timezone.now() + timedelta(hours=1)).plaintext
    AgentCredential.objects.filter(agent=agent).update(expires_at=timezone.now() - timedelta(seconds=1))
    _problem_401(bearer_client(token).get("/api/v1/agents"), "expired")


def test_retired_agent_is_refused_and_suspended_agent_still_authenticates(acme):
    suspended = AgentFactory(tenant=acme)
    token = AgentCredentialFactory(agent=suspended).plaintext
    agent_update(agent=suspended, actor=None, status="suspended")
    assert bearer_client(token).get("/api/v1/agents").status_code == 200
    retired = AgentFactory(tenant=acme)
    retired_token = AgentCredentialFactory(agent=retired).plaintext
    agent_update(agent=retired, actor=None, status="retired")
    assert AgentCredential.objects.get(agent=retired).revoked_at is not None  # retiring revokes every token
    AgentCredential.objects.filter(agent=retired).update(revoked_at=None)  # and even without that:
    _problem_401(bearer_client(retired_token).get("/api/v1/agents"), "retired")


def test_an_acme_token_can_never_see_or_touch_globex(acme, globex):
    acme_agent = AgentFactory(tenant=acme, name="acme-bot")
    globex_agent = AgentFactory(tenant=globex, name="globex-bot")
    McpServerFactory(tenant=globex, server_id="globex-only")
    client = bearer_client(AgentCredentialFactory(agent=acme_agent).plaintext)
    base = f"/api/v1/agents/{globex_agent.public_id}"
    assert client.get(base).status_code == 404
    assert client.patch(base, {"status": "suspended"}, content_type="application/json").status_code == 404
    assert client.post(f"{base}/credentials", {}, content_type="application/json").status_code == 404
    globex_cred = AgentCredential.objects.create(
        tenant=globex, agent=globex_agent, token_hash="0" * 64, prefix="cvr_00000000"
    )
    revoke = client.post(
        f"{base}/credentials/{globex_cred.public_id}/revoke", content_type="application/json"
    )
    assert revoke.status_code == 404
    assert "globex" not in client.get("/api/v1/mcp-servers").content.decode()
    observe = client.post(
        "/api/v1/mcp-tools/observe",
        {"server_id": "globex-only", "tool": "t", "description": "", "input_schema": {}},
        content_type="application/json",
    )
    assert observe.status_code == 400 and "server_id" in observe.json()["errors"]
    globex_agent.refresh_from_db()
    globex_cred.refresh_from_db()
    assert globex_agent.status == "active" and globex_cred.revoked_at is None


def test_an_agent_token_cannot_change_the_registry(acme):
    agent = AgentFactory(tenant=acme)
    other = AgentFactory(tenant=acme)
    client = bearer_client(AgentCredentialFactory(agent=agent).plaintext)
    own = f"/api/v1/agents/{agent.public_id}"
    assert client.get(own).status_code == 200
    assert client.patch(own, {"profile": "codex"}, content_type="application/json").status_code == 403
    assert client.post(f"{own}/credentials", {}, content_type="application/json").status_code == 403
    assert client.get(f"/api/v1/agents/{other.public_id}").status_code == 404
    create = client.post("/api/v1/agents", {"name": "x", "profile": "codex"}, content_type="application/json")
    assert create.status_code == 403
    assert client.get("/api/v1/me").status_code == 403  # human endpoints do not take agent tokens


def test_authentication_sets_tenant_and_agent_on_both_requests(acme, rf):
    from rest_framework.request import Request

    from registry.authentication import AgentPrincipal, AgentTokenAuthentication

    agent = AgentFactory(tenant=acme)
    django_request = rf.get(
        "/api/v1/agents", HTTP_AUTHORIZATION=f"Bearer {AgentCredentialFactory(agent=agent).plaintext}"
    )
    request = Request(django_request)
    principal, credential = AgentTokenAuthentication().authenticate(request)
    assert isinstance(principal, AgentPrincipal) and principal.is_authenticated and not principal.is_staff
    assert principal.agent == agent and principal.tenant == acme and credential.agent_id == agent.pk
    assert request.tenant == acme and django_request.tenant == acme
    assert request.agent == agent and django_request.agent == agent
