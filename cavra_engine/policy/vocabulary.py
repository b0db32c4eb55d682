"""The decision vocabulary every app shares: action types, verdicts and their order, severities and theirs.

Defined once here (no Django) and imported by the engine, the registry, approvals, policies and the
API serializers, so a new action type or severity is added in exactly one place.
"""

from __future__ import annotations

from typing import Literal

READ_FILE = "read_file"
WRITE_FILE = "write_file"
EXECUTE_COMMAND = "execute_command"
GIT_OPERATION = "git_operation"
MCP_TOOL_CALL = "mcp_tool_call"
NETWORK_REQUEST = "network_request"

# The order is the documented one (API enum, capability profiles, forms).
ACTIONS: tuple[str, ...] = (
    READ_FILE,
    WRITE_FILE,
    EXECUTE_COMMAND,
    GIT_OPERATION,
    MCP_TOOL_CALL,
    NETWORK_REQUEST,
)

ALLOW = "allow"
BLOCK = "block"
REQUIRE_APPROVAL = "require_approval"
VerdictName = Literal["allow", "block", "require_approval"]
# The listing order (API enums, filters); restrictiveness is VERDICT_RANK, never this order.
VERDICTS: tuple[str, ...] = (ALLOW, BLOCK, REQUIRE_APPROVAL)
# The most restrictive verdict wins: block > require_approval > allow.
VERDICT_RANK: dict[str, int] = {ALLOW: 0, REQUIRE_APPROVAL: 1, BLOCK: 2}

# CAVRA v1's finer outcomes. Each is enforced as one of the three verdicts (OUTCOME_DECISION): an agent
# that only knows allow/block/require_approval still does the right thing; `outcome` says which.
WARN = "warn"
AUDIT_ONLY = "audit_only"
ALLOW_WITH_ATTESTATION = "allow_with_attestation"
OUTCOMES: tuple[str, ...] = (*VERDICTS, WARN, AUDIT_ONLY, ALLOW_WITH_ATTESTATION)
OUTCOME_DECISION: dict[str, str] = {
    ALLOW: ALLOW,
    BLOCK: BLOCK,
    REQUIRE_APPROVAL: REQUIRE_APPROVAL,
    WARN: ALLOW,
    AUDIT_ONLY: ALLOW,
    ALLOW_WITH_ATTESTATION: ALLOW,
}

# Rollout modes, from the most permissive. Moving a scope to a lower rank is a loosening.
MODE_AUDIT_ONLY = "audit_only"
MODE_BREAK_GLASS = "break_glass"
MODE_ENFORCE = "enforce"
MODE_STRICT_REGULATED = "strict_regulated"
MODE_STRICT = "strict"
MODES: tuple[str, ...] = (MODE_AUDIT_ONLY, MODE_BREAK_GLASS, MODE_ENFORCE, MODE_STRICT_REGULATED, MODE_STRICT)
MODE_RANK: dict[str, int] = {name: rank for rank, name in enumerate(MODES)}

SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
# 1-based: approvals store it as `severity_rank` to order the reviewer queue.
SEVERITY_RANK: dict[str, int] = {name: n for n, name in enumerate(SEVERITIES, start=1)}
# A rule or default that names no severity gets the one its effect implies.
DEFAULT_SEVERITY: dict[str, str] = {ALLOW: "low", REQUIRE_APPROVAL: "medium", BLOCK: "high"}


def most_restrictive(a: str, b: str) -> str:
    """The stricter of two verdicts; on a tie, the first."""
    return b if VERDICT_RANK[b] > VERDICT_RANK[a] else a
