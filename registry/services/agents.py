"""Agents: register, edit and change status; each write atomic and audited."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils import timezone

from core.authz import authorize_actor
from registry.models import (
    AGENT_NAME_VALIDATOR,
    Agent,
    AgentCredential,
    RiskTier,
)
from registry.profiles import CUSTOM, PROFILES
from registry.services.common import (
    _actions,
    _actor,
    _choice,
    _create_audited,
    _mcp_tool_globs,
    _member_or_none,
    _repositories,
    _settable_only,
    _unique_in_tenant,
    _update_audited,
    _validate,
)
from tenants.models import Tenant, User

# What a caller may set on an agent (pages, API, admin); everything else the service owns.
AGENT_FIELDS = (
    "name",
    "description",
    "profile",
    "owner",
    "status",
    "allowed_repositories",
    "allowed_actions",
    "allowed_mcp_tools",
    "risk_tier",
)


def _clean_agent_fields(tenant: Tenant, changes: dict, *, agent: Agent | None) -> dict:
    _settable_only(changes, AGENT_FIELDS)
    clean: dict = {}
    if "name" in changes:
        name = str(changes["name"] or "").strip()
        _validate(AGENT_NAME_VALIDATOR, name, "name")
        _unique_in_tenant(
            Agent,
            tenant,
            agent,
            field="name",
            value=name,
            lookup="iexact",
            message=f"An agent named {name!r} already exists in {tenant.name}.",
        )
        clean["name"] = name
    if "description" in changes:
        clean["description"] = str(changes["description"] or "").strip()[:5000]
    if "profile" in changes:
        clean["profile"] = _choice(changes["profile"], list(PROFILES), "profile", "profile")
    if "owner" in changes:
        clean["owner"] = _member_or_none(tenant, changes["owner"], "owner")
    if "status" in changes:
        clean["status"] = _choice(changes["status"], Agent.Status.choices, "status", "status")
    if "allowed_repositories" in changes:
        clean["allowed_repositories"] = _repositories(changes["allowed_repositories"])
    if "allowed_actions" in changes:
        clean["allowed_actions"] = _actions(changes["allowed_actions"])
    if "allowed_mcp_tools" in changes:
        clean["allowed_mcp_tools"] = _mcp_tool_globs(changes["allowed_mcp_tools"])
    if "risk_tier" in changes:
        clean["risk_tier"] = _choice(changes["risk_tier"], RiskTier.choices, "risk_tier", "risk tier")
    profile = clean.get("profile", agent.profile if agent else None)
    actions = clean.get("allowed_actions", agent.allowed_actions if agent else [])
    if profile == CUSTOM and not actions:
        raise ValidationError({"allowed_actions": "A custom profile needs at least one allowed action."})
    return clean


def agent_changes_validate(*, tenant: Tenant, changes: dict, agent: Agent | None = None) -> dict:
    """The field checks agent_create/agent_update run, without writing (forms show them per field)."""
    cleaned = _clean_agent_fields(tenant, changes, agent=agent)
    if agent is not None:
        _refuse_unretire(agent, cleaned)
    return cleaned


def agent_create(
    *,
    tenant: Tenant,
    actor: User | None,
    name: str,
    profile: str,
    owner: User | None = None,
    description: str = "",
    allowed_repositories=(),
    allowed_actions=(),
    allowed_mcp_tools=(),
    risk_tier: str = RiskTier.MEDIUM,
) -> Agent:
    authorize_actor(actor, tenant, "registry.manage_agents")
    fields = _clean_agent_fields(
        tenant,
        {
            "name": name,
            "profile": profile,
            "owner": owner,
            "description": description,
            "allowed_repositories": allowed_repositories,
            "allowed_actions": allowed_actions,
            "allowed_mcp_tools": allowed_mcp_tools,
            "risk_tier": risk_tier,
        },
        agent=None,
    )
    return _create_audited(
        Agent,
        tenant,
        fields,
        actor=actor,
        action="registry.agent.create",
        clash={"name": f"An agent named {name!r} already exists in {tenant.name}."},
        created_by=_actor(actor),
    )


def agent_update(*, agent: Agent, actor: User | None, **changes) -> Agent:
    """Change any of name, description, profile, owner, status, allowed_* and risk_tier."""
    authorize_actor(actor, agent.tenant, "registry.manage_agents")
    fields = _clean_agent_fields(agent.tenant, changes, agent=agent)
    return _update_audited(
        agent,
        fields,
        actor=actor,
        action=_agent_update_action,
        clash={"name": f"An agent named {fields.get('name')!r} already exists."},
        check=lambda current: _refuse_unretire(current, fields),
        after_save=lambda current, changed: _revoke_if_retired(current, changed, actor),
    )


def _agent_update_action(changed: list[str], agent: Agent) -> str:
    return f"registry.agent.{agent.status}" if changed == ["status"] else "registry.agent.update"


def _refuse_unretire(agent: Agent, fields: dict) -> None:
    if agent.status == Agent.Status.RETIRED and fields.get("status", agent.status) != agent.status:
        raise ValidationError({"status": "A retired agent stays retired; register a new agent instead."})


def _revoke_if_retired(agent: Agent, changed: list[str], actor) -> None:
    if "status" in changed and agent.status == Agent.Status.RETIRED:
        # Retiring is final: every token stops working now, not when it expires.
        AgentCredential.objects.filter(agent=agent, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), revoked_by=_actor(actor)
        )


def agent_set_status(*, agent: Agent, actor: User | None, status: str) -> Agent:
    return agent_update(agent=agent, actor=actor, status=status)
