"""Writes for the registry: agents, credentials, MCP servers and tools; each atomic and audited."""

from __future__ import annotations

from registry.services.agents import agent_changes_validate, agent_create, agent_set_status, agent_update
from registry.services.common import (
    MAX_LIST_ITEMS,
    MAX_TOOL_DESCRIPTION,
    MAX_TOOL_SCHEMA_BYTES,
    TOKEN_PREFIX,
    TOKEN_VISIBLE_CHARS,
    token_hash,
    tool_digest,
)
from registry.services.credentials import (
    agent_credential_issue,
    agent_credential_revoke,
    agent_credential_rotate,
)
from registry.services.mcp_servers import (
    mcp_server_approve,
    mcp_server_block,
    mcp_server_create,
    mcp_server_update,
)
from registry.services.mcp_tools import (
    guess_capability_class,
    mcp_tool_approve,
    mcp_tool_observe,
    mcp_tool_register,
)
from registry.services.workload_identities import (
    MAX_REQUIRED_CLAIMS,
    workload_identity_bind,
    workload_identity_set_enabled,
    workload_identity_unbind,
)

__all__ = [
    "TOKEN_PREFIX",
    "TOKEN_VISIBLE_CHARS",
    "MAX_LIST_ITEMS",
    "MAX_TOOL_DESCRIPTION",
    "MAX_TOOL_SCHEMA_BYTES",
    "token_hash",
    "tool_digest",
    "agent_changes_validate",
    "agent_create",
    "agent_update",
    "agent_set_status",
    "agent_credential_issue",
    "agent_credential_revoke",
    "agent_credential_rotate",
    "MAX_REQUIRED_CLAIMS",
    "workload_identity_bind",
    "workload_identity_set_enabled",
    "workload_identity_unbind",
    "mcp_server_create",
    "mcp_server_update",
    "mcp_server_approve",
    "mcp_server_block",
    "guess_capability_class",
    "mcp_tool_register",
    "mcp_tool_observe",
    "mcp_tool_approve",
]
