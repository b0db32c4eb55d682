"""Registry pages and API: readers see, operators and tenant admins change."""

from core.roles import Role
from registry.models import Agent, McpServer, McpTool
from registry.services import mcp_tool_observe
from tests.factories import (
    AgentCredentialFactory,
    AgentFactory,
    McpServerFactory,
    WorkloadIdentityBindingFactory,
)
from tests.permission_matrix import Entry

# Spelled out here, not imported from the code, so the matrix is an independent statement of who may do what.
WRITE_ROLES = (Role.TENANT_ADMIN, Role.OPERATOR)
READ_ROLES = (
    Role.TENANT_ADMIN,
    Role.OPERATOR,
    Role.SECURITY_REVIEWER,
    Role.EVALUATOR,
    Role.COMPLIANCE_OFFICER,
    Role.AUDITOR,
)


def _agent(ctx) -> Agent:
    return AgentFactory(tenant=ctx.tenant, profile="codex")


def _agent_kwargs(ctx) -> dict:
    return {"agent_id": _agent(ctx).public_id}


def _credential_kwargs(ctx) -> dict:
    credential = AgentCredentialFactory(agent=_agent(ctx))
    return {"agent_id": credential.agent.public_id, "credential_id": credential.public_id}


_GITHUB = "https://token.actions.githubusercontent.com"


def _binding_kwargs(ctx) -> dict:
    binding = WorkloadIdentityBindingFactory(agent=_agent(ctx), issuer=_GITHUB, subject="repo:acme/*")
    return {"agent_id": binding.agent.public_id, "binding_id": binding.public_id}


def _bind_data(ctx) -> dict:
    return {"issuer": _GITHUB, "audience": f"cavra:{ctx.tenant.slug}", "subject": f"repo:acme/r{ctx.seq()}:*"}


def _server(ctx) -> McpServer:
    return McpServerFactory(
        tenant=ctx.tenant,
        trust_tier=McpServer.TrustTier.EXPERIMENTAL,
        approval_state=McpServer.ApprovalState.PENDING,
    )


def _server_kwargs(ctx) -> dict:
    return {"server_id": _server(ctx).public_id}


def _tool_kwargs(ctx) -> dict:
    server = _server(ctx)
    tool: McpTool = mcp_tool_observe(
        tenant=ctx.tenant, server_id=server.server_id, tool="do_it", description="d", input_schema={}
    )
    return {"server_id": server.public_id, "tool_id": tool.public_id}


def _new_agent_data(ctx) -> dict:
    return {"name": f"new-agent-{ctx.seq()}", "profile": "claude-code", "risk_tier": "medium"}


def _new_server_data(ctx) -> dict:
    return {
        "server_id": f"new-srv-{ctx.seq()}",
        "name": "New server",
        "transport": "stdio",
        "command": "npx new-srv",
        "trust_tier": "experimental",
    }


def _observe_data(ctx) -> dict:
    server = _server(ctx)
    return {"server_id": server.server_id, "tool": "list_things", "description": "Lists.", "input_schema": {}}


ENTRIES = [
    # pages
    Entry("registry:agents", roles=READ_ROLES),
    Entry(
        "registry:agents-export",
        roles=READ_ROLES,
        note="CSV of the page's rows (tests/registry/test_tables.py)",
    ),
    Entry("registry:agents", roles=WRITE_ROLES, method="POST", data=_new_agent_data, ok=(302,)),
    Entry("registry:agent", roles=READ_ROLES, kwargs=_agent_kwargs),
    Entry("registry:agent-edit", roles=WRITE_ROLES, kwargs=_agent_kwargs),
    Entry(
        "registry:agent-edit",
        roles=WRITE_ROLES,
        method="POST",
        kwargs=_agent_kwargs,
        data=_new_agent_data,
        ok=(302,),
    ),
    Entry(
        "registry:agent-status",
        roles=WRITE_ROLES,
        method="POST",
        kwargs=_agent_kwargs,
        data={"status": "suspended"},
        ok=(302,),
    ),
    Entry(
        "registry:agent-credentials",
        roles=WRITE_ROLES,
        method="POST",
        kwargs=_agent_kwargs,
        note="200: the page shows the new token once instead of redirecting",
    ),
    Entry(
        "registry:credential-revoke", roles=WRITE_ROLES, method="POST", kwargs=_credential_kwargs, ok=(302,)
    ),
    Entry("registry:mcp-servers", roles=READ_ROLES),
    Entry(
        "registry:mcp-servers-export",
        roles=READ_ROLES,
        note="CSV of the page's rows (tests/registry/test_tables.py)",
    ),
    Entry("registry:mcp-servers", roles=WRITE_ROLES, method="POST", data=_new_server_data, ok=(302,)),
    Entry("registry:mcp-server", roles=READ_ROLES, kwargs=_server_kwargs),
    Entry("registry:mcp-server-approve", roles=WRITE_ROLES, method="POST", kwargs=_server_kwargs, ok=(302,)),
    Entry("registry:mcp-server-block", roles=WRITE_ROLES, method="POST", kwargs=_server_kwargs, ok=(302,)),
    Entry("registry:mcp-tool-approve", roles=WRITE_ROLES, method="POST", kwargs=_tool_kwargs, ok=(302,)),
    # API
    Entry("registry-api:agents", roles=READ_ROLES, api=True),
    Entry("registry-api:agents", roles=WRITE_ROLES, method="POST", api=True, data=_new_agent_data, ok=(201,)),
    Entry("registry-api:agent", roles=READ_ROLES, api=True, kwargs=_agent_kwargs),
    Entry(
        "registry-api:agent",
        roles=WRITE_ROLES,
        method="PATCH",
        api=True,
        kwargs=_agent_kwargs,
        data={"risk_tier": "high"},
    ),
    Entry(
        "registry-api:agent-credentials",
        roles=WRITE_ROLES,
        method="POST",
        api=True,
        kwargs=_agent_kwargs,
        ok=(201,),
    ),
    Entry(
        "registry-api:agent-credential-revoke",
        roles=WRITE_ROLES,
        method="POST",
        api=True,
        kwargs=_credential_kwargs,
    ),
    Entry("registry-api:agent-workload-identities", roles=READ_ROLES, api=True, kwargs=_agent_kwargs),
    Entry(
        "registry-api:agent-workload-identities",
        roles=WRITE_ROLES,
        method="POST",
        api=True,
        kwargs=_agent_kwargs,
        data=_bind_data,
        ok=(201,),
    ),
    Entry("registry-api:agent-workload-identity", roles=READ_ROLES, api=True, kwargs=_binding_kwargs),
    Entry(
        "registry-api:agent-workload-identity",
        roles=WRITE_ROLES,
        method="DELETE",
        api=True,
        kwargs=_binding_kwargs,
        ok=(204,),
    ),
    Entry("registry-api:mcp-servers", roles=READ_ROLES, api=True),
    Entry(
        "registry-api:mcp-servers",
        roles=WRITE_ROLES,
        method="POST",
        api=True,
        data=_new_server_data,
        ok=(201,),
    ),
    Entry("registry-api:mcp-server", roles=READ_ROLES, api=True, kwargs=_server_kwargs),
    Entry(
        "registry-api:mcp-tool-observe",
        roles=WRITE_ROLES,
        method="POST",
        api=True,
        data=_observe_data,
        note="agents call it with their token (tests/registry/test_api.py); people need a write role",
    ),
]
