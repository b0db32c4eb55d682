"""Reads for the registry, scoped to a tenant and its caller, and the registry check of the decision path."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from cavra_engine.policy.vocabulary import BLOCK, REQUIRE_APPROVAL
from core.authz import can, get_for_tenant_or_404
from registry.models import Agent, AgentCredential, McpServer, McpTool, WorkloadIdentityBinding
from registry.profiles import MCP_TOOL_CALL, PROFILES, effective_capabilities
from tenants.models import Tenant


def _agent_principal(user):
    return getattr(user, "agent", None) if getattr(user, "is_agent", False) else None


def can_read_registry(user, tenant: Tenant | None) -> bool:
    return can(user, tenant, "registry.view")


def can_write_registry(user, tenant: Tenant | None) -> bool:
    return can(user, tenant, "registry.manage_agents")


# ---------------------------------------------------------------- agents


def agent_list(*, tenant: Tenant, user) -> QuerySet[Agent]:
    """Agents a caller may see: readers see the tenant's, an agent token only itself."""
    principal_agent = _agent_principal(user)
    if principal_agent is not None:
        if principal_agent.tenant_id != tenant.pk:
            return Agent.objects.none()
        qs = Agent.objects.filter(tenant=tenant, pk=principal_agent.pk)
    elif can_read_registry(user, tenant):
        qs = Agent.objects.filter(tenant=tenant)
    else:
        return Agent.objects.none()
    return qs.select_related("owner", "tenant")


def agent_get(*, tenant: Tenant, user, public_id: str) -> Agent:
    return get_for_tenant_or_404(agent_list(tenant=tenant, user=user), tenant, public_id=public_id)


def agent_credentials(*, agent: Agent) -> QuerySet[AgentCredential]:
    return AgentCredential.objects.filter(tenant=agent.tenant_id, agent=agent).select_related("created_by")


def agent_credential_get(*, agent: Agent, public_id: str) -> AgentCredential:
    return get_for_tenant_or_404(
        AgentCredential.objects.filter(agent=agent).select_related("agent"), agent.tenant, public_id=public_id
    )


def workload_identity_list(*, agent: Agent) -> QuerySet[WorkloadIdentityBinding]:
    return WorkloadIdentityBinding.objects.filter(tenant=agent.tenant_id, agent=agent).select_related(
        "created_by"
    )


def workload_identity_get(*, agent: Agent, public_id: str) -> WorkloadIdentityBinding:
    return get_for_tenant_or_404(
        WorkloadIdentityBinding.objects.filter(agent=agent).select_related("agent"),
        agent.tenant,
        public_id=public_id,
    )


# ---------------------------------------------------------------- MCP servers


def mcp_server_list(*, tenant: Tenant, user) -> QuerySet[McpServer]:
    principal_agent = _agent_principal(user)
    if principal_agent is not None:
        if principal_agent.tenant_id != tenant.pk:
            return McpServer.objects.none()
    elif not can_read_registry(user, tenant):
        return McpServer.objects.none()
    qs = McpServer.objects.filter(tenant=tenant)
    return qs.select_related("owner").annotate(
        tool_count=Count("tools", distinct=True),
        attention_count=Count("tools", filter=~Q(tools__status=McpTool.Status.APPROVED), distinct=True),
    )


def mcp_server_get(*, tenant: Tenant, user, public_id: str) -> McpServer:
    return get_for_tenant_or_404(mcp_server_list(tenant=tenant, user=user), tenant, public_id=public_id)


def mcp_server_tools(*, server: McpServer) -> QuerySet[McpTool]:
    return (
        McpTool.objects.filter(tenant=server.tenant_id, server=server)
        .select_related("approved_by")
        .order_by("name")
    )


def mcp_tool_get(*, tenant: Tenant, user, server: McpServer, public_id: str) -> McpTool:
    return get_for_tenant_or_404(mcp_server_tools(server=server), tenant, public_id=public_id)


# ---------------------------------------------------------------- summary


def registry_summary(*, tenant: Tenant, user) -> dict:
    if not can_read_registry(user, tenant):
        return {}
    agents = dict(Agent.objects.filter(tenant=tenant).values_list("status").annotate(n=Count("id")))
    tiers = dict(McpServer.objects.filter(tenant=tenant).values_list("trust_tier").annotate(n=Count("id")))
    attention = list(
        McpTool.objects.filter(tenant=tenant)
        .exclude(status=McpTool.Status.APPROVED)
        .select_related("server")
        .order_by("-changed_at", "-first_seen_at")[:5]
    )
    pending_servers = McpServer.objects.filter(
        tenant=tenant, approval_state=McpServer.ApprovalState.PENDING
    ).count()
    return {
        "agents": {s: agents.get(s, 0) for s in Agent.Status.values},
        "agent_total": sum(agents.values()),
        "tiers": {t: tiers.get(t, 0) for t in McpServer.TrustTier.values},
        "server_total": sum(tiers.values()),
        "pending_servers": pending_servers,
        "tools_needing_attention": attention,
    }


# ---------------------------------------------------------------- the decision path


@dataclass(frozen=True)
class RegistryCheck:
    """The registry's objection to one agent action (None from registry_check means no objection)."""

    decision: str  # "block" | "require_approval"
    rule_id: str
    severity: str  # low | medium | high | critical
    reason: str


def _block(rule_id: str, severity: str, reason: str) -> RegistryCheck:
    return RegistryCheck(BLOCK, rule_id, severity, reason)


def _ask(rule_id: str, severity: str, reason: str) -> RegistryCheck:
    return RegistryCheck(REQUIRE_APPROVAL, rule_id, severity, reason)


def registry_check(
    *, tenant: Tenant, agent: Agent, action: str, repository: str | None, mcp: dict | None
) -> RegistryCheck | None:
    """What the registry says about `agent` doing `action`: agent status, its profile's action types and
    repositories, then (for MCP calls) server trust and tool approval. Blocks are checked before
    approvals so the most restrictive objection wins. Costs no query for the agent checks and at
    most two indexed queries for an MCP call."""
    if agent.tenant_id != tenant.pk:
        # Never reachable through authentication; refuse loudly rather than cross tenants.
        return _block("registry.agent.unknown", "critical", "This agent does not belong to this tenant.")
    if agent.status == Agent.Status.RETIRED:
        return _block(
            "registry.agent.retired", "high", f"Agent {agent.name} is retired and may not act any more."
        )
    if agent.status == Agent.Status.SUSPENDED:
        return _block(
            "registry.agent.suspended",
            "high",
            f"Agent {agent.name} is suspended; an operator must reactivate it before it can act.",
        )
    caps = effective_capabilities(agent)
    if not caps.allows_action(action):
        profile = PROFILES.get(agent.profile)
        label = profile.label if profile else agent.profile
        return _block(
            "registry.profile.action_not_allowed",
            "high",
            f"The {label} profile of agent {agent.name} does not allow {action.replace('_', ' ')} actions.",
        )
    if repository and not caps.allows_repository(repository):
        return _block(
            "registry.agent.repository_not_allowed",
            "high",
            f"Agent {agent.name} may only work in {', '.join(caps.repositories)}, not in {repository}.",
        )
    if action != MCP_TOOL_CALL and not mcp:
        return None
    return _mcp_check(tenant=tenant, agent=agent, caps=caps, mcp=mcp or {})


def _mcp_check(*, tenant: Tenant, agent: Agent, caps, mcp: dict) -> RegistryCheck | None:
    server_id = str(mcp.get("server") or "").strip()
    tool_name = str(mcp.get("tool") or "").strip()
    if not server_id:
        return _block("registry.mcp.server_unknown", "high", "The MCP call does not name its server.")
    server = (
        McpServer.objects.filter(tenant=tenant, server_id=server_id)
        .only("id", "server_id", "trust_tier", "approval_state")
        .first()
    )
    if server is None:
        return _block(
            "registry.mcp.server_unknown",
            "high",
            f"MCP server {server_id} is not in the registry; an operator must register and approve it first.",
        )
    if server.trust_tier == McpServer.TrustTier.BLOCKED:
        return _block(
            "registry.mcp.server_blocked", "critical", f"MCP server {server_id} is blocked in this tenant."
        )
    if server.approval_state == McpServer.ApprovalState.REJECTED:
        return _block(
            "registry.mcp.server_blocked",
            "high",
            f"MCP server {server_id} was rejected when it was reviewed for this tenant.",
        )
    if not tool_name or not caps.allows_mcp_tool(server_id, tool_name):
        shown = f"{server_id}:{tool_name}" if tool_name else f"an unnamed tool of {server_id}"
        return _block(
            "registry.mcp.tool_out_of_scope",
            "high",
            f"Agent {agent.name} is not allowed to use {shown}; its profile does not include that tool.",
        )
    if server.approval_state == McpServer.ApprovalState.PENDING:
        return _ask(
            "registry.mcp.server_unapproved",
            "medium",
            f"MCP server {server_id} has not been approved yet; a reviewer must allow this call.",
        )
    tool = (
        McpTool.objects.filter(server=server, name=tool_name).only("id", "status", "capability_class").first()
    )
    if tool is not None and tool.status == McpTool.Status.CHANGED:
        return _ask(
            "registry.mcp.tool_changed",
            "high",
            f"The description or input schema of {server_id}:{tool_name} changed since it was approved; "
            "a reviewer must re-approve the tool before it is used without approval.",
        )
    if server.trust_tier == McpServer.TrustTier.EXPERIMENTAL:
        return _ask(
            "registry.mcp.server_experimental",
            "medium",
            f"MCP server {server_id} is experimental; each call needs a reviewer's approval.",
        )
    if tool is not None and tool.status == McpTool.Status.PENDING:
        return _ask(
            "registry.mcp.tool_unapproved",
            "medium",
            f"Tool {server_id}:{tool_name} is new and has not been approved yet.",
        )
    if tool is None and server.trust_tier != McpServer.TrustTier.TRUSTED:
        # Trusted servers vouch for their own tools; on any other tier each tool is reviewed.
        return _ask(
            "registry.mcp.tool_unapproved",
            "medium",
            f"Tool {server_id}:{tool_name} is not in the registry; a reviewer must approve it.",
        )
    return None
