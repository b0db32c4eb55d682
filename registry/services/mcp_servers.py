"""MCP servers: register, edit, approve and block; each write atomic and audited."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from core.authz import authorize_actor
from registry.models import (
    SERVER_ID_VALIDATOR,
    CapabilityClass,
    McpServer,
)
from registry.services.common import (
    _choice,
    _create_audited,
    _member_or_none,
    _settable_only,
    _string_list,
    _unique_in_tenant,
    _update_audited,
    _validate,
)
from tenants.models import Tenant, User

# What a caller may set on an MCP server (pages, API, admin); the API shows each of them too.
MCP_SERVER_FIELDS = (
    "server_id",
    "name",
    "publisher",
    "description",
    "transport",
    "url",
    "command",
    "trust_tier",
    "approval_state",
    "owner",
    "capabilities",
)


def _clean_server_fields(tenant: Tenant, changes: dict, *, server: McpServer | None) -> dict:
    _settable_only(changes, MCP_SERVER_FIELDS)
    clean: dict = {}
    if "server_id" in changes:
        server_id = str(changes["server_id"] or "").strip()
        _validate(SERVER_ID_VALIDATOR, server_id, "server_id")
        _unique_in_tenant(
            McpServer,
            tenant,
            server,
            field="server_id",
            value=server_id,
            message=f"An MCP server {server_id!r} is already registered.",
        )
        clean["server_id"] = server_id
    if "name" in changes:
        name = str(changes["name"] or "").strip()
        if not name:
            raise ValidationError({"name": "A display name is required."})
        clean["name"] = name[:120]
    for key, limit in (("publisher", 120), ("description", 5000), ("command", 500)):
        if key in changes:
            clean[key] = str(changes[key] or "").strip()[:limit]
    if "url" in changes:
        url = str(changes["url"] or "").strip()
        if url:
            from django.core.validators import URLValidator

            try:
                URLValidator(schemes=["http", "https"])(url)
            except ValidationError:
                raise ValidationError({"url": "Enter an http:// or https:// URL."})
        clean["url"] = url
    if "transport" in changes:
        clean["transport"] = _choice(
            changes["transport"], McpServer.Transport.choices, "transport", "transport"
        )
    if "trust_tier" in changes:
        clean["trust_tier"] = _choice(
            changes["trust_tier"], McpServer.TrustTier.choices, "trust_tier", "trust tier"
        )
    if "approval_state" in changes:
        clean["approval_state"] = _choice(
            changes["approval_state"], McpServer.ApprovalState.choices, "approval_state", "approval state"
        )
    if "owner" in changes:
        clean["owner"] = _member_or_none(tenant, changes["owner"], "owner")
    if "capabilities" in changes:
        caps = _string_list(changes["capabilities"], "capabilities")
        valid = CapabilityClass.values
        bad = [c for c in caps if c not in valid]
        if bad:
            raise ValidationError(
                {
                    "capabilities": f"Unknown capability class(es): {', '.join(bad)}. Valid: {', '.join(valid)}."
                }
            )
        clean["capabilities"] = [c for c in valid if c in caps]
    transport = clean.get("transport", server.transport if server else McpServer.Transport.STDIO)
    url = clean.get("url", server.url if server else "")
    command = clean.get("command", server.command if server else "")
    if transport == McpServer.Transport.STDIO and not command:
        raise ValidationError({"command": "A stdio server needs the command that starts it."})
    if transport in (McpServer.Transport.HTTP, McpServer.Transport.SSE) and not url:
        raise ValidationError({"url": f"A {transport} server needs its URL."})
    return clean


def mcp_server_create(
    *,
    tenant: Tenant,
    actor: User | None,
    server_id: str,
    name: str,
    transport: str = McpServer.Transport.STDIO,
    url: str = "",
    command: str = "",
    publisher: str = "",
    description: str = "",
    trust_tier: str = McpServer.TrustTier.EXPERIMENTAL,
    approval_state: str = McpServer.ApprovalState.PENDING,
    owner: User | None = None,
    capabilities=(),
) -> McpServer:
    authorize_actor(actor, tenant, "registry.manage_mcp")
    fields = _clean_server_fields(
        tenant,
        {
            "server_id": server_id,
            "name": name,
            "transport": transport,
            "url": url,
            "command": command,
            "publisher": publisher,
            "description": description,
            "trust_tier": trust_tier,
            "approval_state": approval_state,
            "owner": owner,
            "capabilities": capabilities,
        },
        server=None,
    )
    return _create_audited(
        McpServer,
        tenant,
        fields,
        actor=actor,
        action="registry.mcp_server.create",
        clash={"server_id": f"An MCP server {server_id!r} is already registered."},
    )


def mcp_server_update(
    *, server: McpServer, actor: User | None, action: str = "update", **changes
) -> McpServer:
    authorize_actor(actor, server.tenant, "registry.manage_mcp")
    fields = _clean_server_fields(server.tenant, changes, server=server)
    return _update_audited(
        server,
        fields,
        actor=actor,
        action=f"registry.mcp_server.{action}",
        clash={"server_id": f"An MCP server {fields.get('server_id')!r} is already registered."},
    )


def mcp_server_approve(*, server: McpServer, actor: User | None, trust_tier: str | None = None) -> McpServer:
    """Approve a server; a blocked one comes back as `approved` unless a tier is given."""
    authorize_actor(actor, server.tenant, "registry.manage_mcp")
    tier = trust_tier or (
        McpServer.TrustTier.APPROVED
        if server.trust_tier == McpServer.TrustTier.BLOCKED
        else server.trust_tier
    )
    return mcp_server_update(
        server=server,
        actor=actor,
        action="approve",
        approval_state=McpServer.ApprovalState.APPROVED,
        trust_tier=tier,
    )


def mcp_server_block(*, server: McpServer, actor: User | None) -> McpServer:
    authorize_actor(actor, server.tenant, "registry.manage_mcp")
    return mcp_server_update(
        server=server, actor=actor, action="block", trust_tier=McpServer.TrustTier.BLOCKED
    )
