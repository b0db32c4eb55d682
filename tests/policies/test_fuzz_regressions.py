"""Inputs schemathesis found that reached the database and failed there: each is now a 400 naming the field."""

from __future__ import annotations

import json

import pytest

from evidence.models import AgentSession, Decision
from tests.policies.conftest import ask

pytestmark = pytest.mark.django_db

# PostgreSQL's jsonb refuses U+0000 and lone surrogates; DRF's DictField and JSONField let both through.
UNSTORABLE = [{"k\x00": 1}, {"k": "a\x00b"}, {"k": ["\udc00"]}, {"\ud800": {}}]


@pytest.mark.parametrize("context", UNSTORABLE)
def test_decision_context_that_jsonb_cannot_store_is_a_400_not_a_503(rolled_out, agent_client, context):
    response = ask(agent_client, action="read_file", target="src/app.py", context=context)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert "context" in response.json()["errors"]
    assert not Decision.objects.exists()


@pytest.mark.parametrize("field", ["arguments", "input_schema"])
def test_decision_mcp_json_that_jsonb_cannot_store_is_a_400(rolled_out, agent_client, field):
    mcp = {"server": "github", "tool": "list_issues", field: {"q": "\x00"}}
    response = ask(agent_client, action="mcp_tool_call", target="github:list_issues", mcp=mcp)
    assert response.status_code == 400, response.content
    assert f"mcp.{field}" in response.json()["errors"]


@pytest.mark.parametrize("metadata", UNSTORABLE)
def test_session_metadata_that_jsonb_cannot_store_is_a_400_not_a_500(agent_client, metadata):
    response = agent_client.post(
        "/api/v1/sessions", json.dumps({"metadata": metadata}), content_type="application/json"
    )
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert "metadata" in response.json()["errors"]
    assert not AgentSession.objects.exists()


def test_session_metadata_that_jsonb_can_store_still_opens(agent_client):
    metadata = {"ide": "vscode", "nested": [{"ok": "é ✓ 🇺🇸"}]}
    response = agent_client.post(
        "/api/v1/sessions", json.dumps({"metadata": metadata}), content_type="application/json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["metadata"] == metadata


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/decisions?rule_id=a%00b", "rule_id"),
        ("/api/v1/decisions?repository=%00", "repository"),
        ("/api/v1/sessions?repository=a%00b", "repository"),
    ],
)
def test_list_filter_with_a_nul_is_a_400_naming_it(agent_client, url, field):
    response = agent_client.get(url)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert field in response.json()["errors"]


@pytest.mark.parametrize("url", ["/api/v1/decisions/dec_a%00b", "/api/v1/sessions/ses_a%00b"])
def test_detail_id_with_a_nul_is_a_400(agent_client, url):
    response = agent_client.get(url)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
