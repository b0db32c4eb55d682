"""The in-process agent credential cache: one cheap read per request, and never stale.

Revocations, retirements and entitlement changes are committed through a separate PostgreSQL
connection (as another web worker, the admin or an operator's SQL would) and must be refused on
the very next request of this process.
"""

from __future__ import annotations

import json

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.metrics import CACHE_LOOKUPS
from registry.credential_cache import credential_cache_clear
from tests.factories import AgentCredentialFactory, AgentFactory
from tests.support.clients import bearer_client

pytestmark = pytest.mark.django_db(transaction=True)


def _other_connection():
    settings = connection.settings_dict
    return psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        dbname=settings["NAME"],
        autocommit=True,
    )


def _ask(client):
    return client.post(
        "/api/v1/decisions",
        json.dumps({"action": "read_file", "target": "README.md"}),
        content_type="application/json",
    )


@pytest.fixture
def agent_token(acme):
    credential_cache_clear()
    agent = AgentFactory(tenant=acme, name="cache-bot")
    credential = AgentCredentialFactory(agent=agent)
    return agent, credential, credential.plaintext


def _hits(result: str) -> float:
    return CACHE_LOOKUPS.labels(cache="agent_credential", result=result)._value.get()


def test_second_request_reads_only_the_generation(agent_token):
    _agent, _credential, token = agent_token
    client = bearer_client(token)
    assert _ask(client).status_code in (200,)
    hits = _hits("hit")
    with CaptureQueriesContext(connection) as captured:
        assert _ask(client).status_code == 200
    sqls = [q["sql"] for q in captured.captured_queries]
    assert not any("registry_agentcredential" in sql for sql in sqls), sqls
    assert sum("policy_generation FROM tenants_tenant" in sql for sql in sqls) == 1
    assert _hits("hit") == hits + 1


def test_revocation_from_another_connection_counts_on_the_next_request(agent_token):
    _agent, credential, token = agent_token
    client = bearer_client(token)
    assert _ask(client).status_code == 200
    with _other_connection() as other:
        other.execute("UPDATE registry_agentcredential SET revoked_at = now() WHERE id = %s", [credential.pk])
    refused = _ask(client)
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]


def test_deleted_token_from_another_connection_is_unknown_at_once(agent_token):
    _agent, credential, token = agent_token
    client = bearer_client(token)
    assert _ask(client).status_code == 200
    with _other_connection() as other:
        other.execute("DELETE FROM registry_agentcredential WHERE id = %s", [credential.pk])
    assert _ask(client).status_code == 401


def test_retired_agent_from_another_connection_is_refused_at_once(agent_token):
    agent, _credential, token = agent_token
    client = bearer_client(token)
    assert _ask(client).status_code == 200
    with _other_connection() as other:
        other.execute("UPDATE registry_agent SET status = 'retired' WHERE id = %s", [agent.pk])
    refused = _ask(client)
    assert refused.status_code == 401 and "retired" in refused.json()["detail"]


def test_suspension_and_entitlement_changes_reach_the_decision_at_once(agent_token, acme):
    agent, _credential, token = agent_token
    client = bearer_client(token)
    assert _ask(client).status_code == 200
    with _other_connection() as other:
        other.execute("UPDATE tenants_tenant SET entitlement_status = 'suspended' WHERE id = %s", [acme.pk])
    body = _ask(client).json()
    assert body["decision"] == "block" and body["rule_id"] == "portal.tenant_inactive"


def test_rotation_through_the_service_refuses_the_old_token(agent_token):
    from registry.services import agent_credential_rotate

    _agent, credential, token = agent_token
    client = bearer_client(token)
    assert _ask(client).status_code == 200
    _new, plaintext = agent_credential_rotate(credential=credential, actor=None)
    assert _ask(client).status_code == 401
    assert _ask(bearer_client(plaintext)).status_code == 200


def test_bookkeeping_writes_do_not_invalidate(agent_token, acme):
    agent, credential, _token = agent_token
    acme.refresh_from_db()
    before = acme.policy_generation
    with _other_connection() as other:
        other.execute(
            "UPDATE registry_agentcredential SET last_used_at = now() WHERE id = %s", [credential.pk]
        )
        other.execute("UPDATE registry_agent SET last_seen_at = now() WHERE id = %s", [agent.pk])
    acme.refresh_from_db()
    assert acme.policy_generation == before
    # A stale instance saved back never moves the generation backwards.
    stale = type(acme).objects.get(pk=acme.pk)
    with _other_connection() as other:
        other.execute("UPDATE registry_agent SET description = 'changed' WHERE id = %s", [agent.pk])
    stale.save()
    acme.refresh_from_db()
    assert acme.policy_generation > before


def test_deactivated_members_personal_token_is_refused_at_once(acme, member):
    from tenants.tokens import personal_token_issue

    user = member(acme, "auditor", email="reader@acme.test")
    _token, plaintext = personal_token_issue(user=user, tenant=acme, name="script", actor=user)
    client = bearer_client(plaintext)
    assert client.get("/api/v1/decisions").status_code == 200
    with _other_connection() as other:
        other.execute("UPDATE tenants_user SET is_active = false WHERE id = %s", [user.pk])
    assert client.get("/api/v1/decisions").status_code == 401
