"""Registry pages: lists with filters and fixed query counts, token shown once, htmx fragments, readers read-only."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.roles import Role
from registry.models import AgentCredential, McpTool
from registry.services import agent_credential_issue, mcp_tool_observe

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(acme, member, client_as):
    return client_as(member(acme, Role.OPERATOR), acme)


def test_agents_page_lists_filters_and_has_a_fixed_query_count(acme, operator, make_agent):
    make_agent(acme, name="alpha", profile="codex")
    make_agent(acme, name="beta", profile="read-only")
    page = operator.get("/registry/agents/")
    assert page.status_code == 200 and b"alpha" in page.content and b"Register an agent" in page.content
    filtered = operator.get("/registry/agents/?profile=read-only")
    assert b"beta" in filtered.content and b'data-agent="alpha"' not in filtered.content
    fragment = operator.get("/registry/agents/?q=alp", HTTP_HX_REQUEST="true")
    assert b"<html" not in fragment.content and b'data-agent="alpha"' in fragment.content
    with CaptureQueriesContext(connection) as few:
        operator.get("/registry/agents/")
    for i in range(8):
        agent_credential_issue(agent=make_agent(acme, name=f"more-{i}"), actor=None)
    with CaptureQueriesContext(connection) as many:
        operator.get("/registry/agents/")
    assert len(many) == len(few)


def test_register_agent_then_issue_token_shown_once_then_revoke(acme, operator):
    created = operator.post(
        "/registry/agents/", {"name": "claude-bob", "profile": "claude-code", "risk_tier": "medium"}
    )
    assert created.status_code == 302
    detail_url = created["Location"]
    issued = operator.post(detail_url + "credentials/", {"label": "laptop"})
    assert issued.status_code == 200 and issued["Cache-Control"] == "no-store"
    credential = AgentCredential.objects.get(agent__name="claude-bob")
    token = issued.content.decode().split('<code class="token">')[1].split("<")[0]
    assert token.startswith(credential.prefix) and len(token) > 40
    again = operator.get(detail_url)
    assert token not in again.content.decode() and credential.prefix in again.content.decode()
    revoked = operator.post(
        detail_url + f"credentials/{credential.public_id}/revoke/", HTTP_HX_REQUEST="true"
    )
    assert revoked.status_code == 200 and b"<html" not in revoked.content and b"revoked" in revoked.content
    credential.refresh_from_db()
    assert credential.revoked_at is not None


def test_bad_input_is_shown_next_to_the_field(acme, operator, make_agent):
    make_agent(acme, name="taken")
    response = operator.post("/registry/agents/", {"name": "taken", "profile": "codex", "risk_tier": "low"})
    assert response.status_code == 422 and b'id="name-error"' in response.content
    response = operator.post(
        "/registry/agents/",
        {"name": "x", "profile": "codex", "risk_tier": "low", "allowed_repositories": "norepo"},
    )
    assert response.status_code == 422 and b'id="allowed_repositories-error"' in response.content
    agent = make_agent(acme)
    bad_expiry = operator.post(
        f"/registry/agents/{agent.public_id}/credentials/", {"expires_at": "2001-01-01"}
    )
    assert bad_expiry.status_code == 422 and b"future" in bad_expiry.content
    server = operator.post(
        "/registry/mcp-servers/",
        {"server_id": "s", "name": "S", "transport": "http", "trust_tier": "approved"},
    )
    assert server.status_code == 422 and b'id="url-error"' in server.content


def test_status_change_with_htmx_swaps_the_status_card(acme, operator, make_agent):
    agent = make_agent(acme)
    response = operator.post(
        f"/registry/agents/{agent.public_id}/status/", {"status": "suspended"}, HTTP_HX_REQUEST="true"
    )
    assert (
        response.status_code == 200
        and b'id="agent-status"' in response.content
        and b"Suspended" in response.content
    )
    retired = operator.post(f"/registry/agents/{agent.public_id}/status/", {"status": "retired"})
    assert retired.status_code == 302
    back = operator.post(f"/registry/agents/{agent.public_id}/status/", {"status": "active"})
    assert back.status_code == 422 and b"retired" in back.content


def test_mcp_pages_show_rug_pull_and_reapprove(acme, operator, make_server):
    server = make_server(acme, "github", tier="trusted", tools=["list_issues"])
    mcp_tool_observe(
        tenant=acme, server_id="github", tool="list_issues", description="Exfiltrate secrets", input_schema={}
    )
    listing = operator.get("/registry/mcp-servers/")
    assert listing.status_code == 200 and b"1 to review" in listing.content
    page = operator.get(f"/registry/mcp-servers/{server.public_id}/")
    assert b"Exfiltrate secrets" in page.content and b"Re-approve" in page.content
    tool = McpTool.objects.get(name="list_issues")
    row = operator.post(
        f"/registry/mcp-servers/{server.public_id}/tools/{tool.public_id}/approve/", HTTP_HX_REQUEST="true"
    )
    assert row.status_code == 200 and row.content.lstrip().startswith(b"<tr") and b"Approved" in row.content
    blocked = operator.post(f"/registry/mcp-servers/{server.public_id}/block/", HTTP_HX_REQUEST="true")
    assert b'data-testid="trust-tier">Blocked' in blocked.content


def test_readers_see_no_write_controls(acme, member, client_as, make_agent, make_server):
    agent = make_agent(acme)
    server = make_server(acme, "fs", approval="pending")
    auditor = client_as(member(acme, Role.AUDITOR), acme)
    assert b"Register an agent" not in auditor.get("/registry/agents/").content
    detail = auditor.get(f"/registry/agents/{agent.public_id}/").content
    assert b"Issue a token" not in detail and b"Suspend" not in detail
    assert b"/approve/" not in auditor.get(f"/registry/mcp-servers/{server.public_id}/").content
    assert auditor.post(f"/registry/agents/{agent.public_id}/credentials/").status_code == 403


def test_home_panel_for_operators(acme, operator, make_agent, make_server):
    make_agent(acme)
    make_server(acme, "fs", tools=["read"])
    mcp_tool_observe(tenant=acme, server_id="fs", tool="read", description="changed", input_schema={})
    home = operator.get("/")
    assert b"Agent and MCP registry" in home.content and b"fs:read" in home.content
