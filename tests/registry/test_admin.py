"""Registry admin: every model is there, scoped to the tenant admin's tenant; tokens are never added there."""

from __future__ import annotations

import pytest

from core.roles import Role
from registry.services import agent_credential_issue, mcp_tool_observe

pytestmark = pytest.mark.django_db


def test_tenant_admin_sees_only_their_tenants_registry(
    acme, globex, member, client_as, make_agent, make_server
):
    agent_credential_issue(agent=make_agent(acme, name="acme-bot"), actor=None)
    agent_credential_issue(agent=make_agent(globex, name="globex-bot"), actor=None)
    make_server(acme, "acme-srv")
    make_server(globex, "globex-srv")
    mcp_tool_observe(tenant=acme, server_id="acme-srv", tool="acme_tool", description="", input_schema={})
    mcp_tool_observe(
        tenant=globex, server_id="globex-srv", tool="globex_tool", description="", input_schema={}
    )
    admin = client_as(member(acme, Role.TENANT_ADMIN), acme)
    for model in ("agent", "agentcredential", "mcpserver", "mcptool"):
        page = admin.get(f"/admin/registry/{model}/")
        assert page.status_code == 200, model
        assert b"globex" not in page.content.lower(), model
    assert b"acme-bot" in admin.get("/admin/registry/agent/").content
    assert admin.get("/admin/registry/agentcredential/add/").status_code == 403


def test_admin_action_revokes_tokens(acme, member, client_as, make_agent):
    credential, _ = agent_credential_issue(agent=make_agent(acme), actor=None)
    admin = client_as(member(acme, Role.TENANT_ADMIN), acme)
    response = admin.post(
        "/admin/registry/agentcredential/", {"action": "revoke_selected", "_selected_action": [credential.pk]}
    )
    assert response.status_code == 302
    credential.refresh_from_db()
    assert credential.revoked_at is not None
