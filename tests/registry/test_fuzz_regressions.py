"""Inputs schemathesis found that reached the database and failed there: each is now a 400 naming the field."""

from __future__ import annotations

import pytest

from registry.models import McpTool
from tests.factories import AgentCredentialFactory, AgentFactory, McpServerFactory
from tests.support.clients import bearer_client

pytestmark = pytest.mark.django_db


def post(client, url, data):
    return client.post(url, data, content_type="application/json")


@pytest.mark.parametrize("input_schema", [{"type\x00": "object"}, {"properties": {"q": "\udc00"}}])
def test_observed_tool_schema_that_jsonb_cannot_store_is_a_400(acme, input_schema):
    McpServerFactory(tenant=acme, server_id="github", trust_tier="trusted", tools=["list_issues"])
    client = bearer_client(AgentCredentialFactory(agent=AgentFactory(tenant=acme)).plaintext)
    response = post(
        client,
        "/api/v1/mcp-tools/observe",
        {"server_id": "github", "tool": "new_tool", "description": "x", "input_schema": input_schema},
    )
    assert response.status_code == 400, response.content
    assert "input_schema" in response.json()["errors"]
    assert not McpTool.objects.filter(name="new_tool").exists()


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/agents?q=a%00", "q"),
        ("/api/v1/agents?owner=%00", "owner"),
        ("/api/v1/mcp-servers?q=%00", "q"),
    ],
)
def test_list_filter_with_a_nul_is_a_400_naming_it(acme, url, field):
    response = bearer_client(AgentCredentialFactory(agent=AgentFactory(tenant=acme)).plaintext).get(url)
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]


@pytest.mark.parametrize("url", ["/api/v1/agents/agt_a%00", "/api/v1/mcp-servers/mcp_a%00"])
def test_detail_id_with_a_nul_is_a_400(acme, url):
    response = bearer_client(AgentCredentialFactory(agent=AgentFactory(tenant=acme)).plaintext).get(url)
    assert response.status_code == 400, response.content
