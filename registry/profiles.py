"""Capability profiles: which action types, repositories and MCP tools each kind of agent may use."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from cavra_engine.policy.vocabulary import (
    ACTIONS,
    EXECUTE_COMMAND,
    GIT_OPERATION,
    MCP_TOOL_CALL,
    NETWORK_REQUEST,
    READ_FILE,
    WRITE_FILE,
)

ACTION_TYPES: tuple[str, ...] = ACTIONS
ACTION_CHOICES = [(a, a.replace("_", " ").capitalize()) for a in ACTION_TYPES]

CUSTOM = "custom"


@dataclass(frozen=True)
class CapabilityProfile:
    """A profile as data. Empty `repositories` means every repository; `mcp_tools` are
    `server:tool` globs (`*` = every tool of every server the registry lets through)."""

    key: str
    label: str
    description: str
    actions: frozenset[str]
    repositories: tuple[str, ...] = ()
    mcp_tools: tuple[str, ...] = ()


_CODING_AGENT = frozenset(ACTION_TYPES)

PROFILES: dict[str, CapabilityProfile] = {
    p.key: p
    for p in (
        CapabilityProfile(
            "claude-code",
            "Claude Code",
            "Anthropic's coding agent: files, shell, git, MCP tools and web fetches.",
            _CODING_AGENT,
            mcp_tools=("*",),
        ),
        CapabilityProfile(
            "codex",
            "OpenAI Codex",
            "OpenAI's coding agent: files, shell, git, MCP tools and web fetches.",
            _CODING_AGENT,
            mcp_tools=("*",),
        ),
        CapabilityProfile(
            "github-copilot",
            "GitHub Copilot agent",
            "Copilot coding agent: files, shell, git and the GitHub MCP server only.",
            frozenset({READ_FILE, WRITE_FILE, EXECUTE_COMMAND, GIT_OPERATION, MCP_TOOL_CALL}),
            mcp_tools=("github:*",),
        ),
        CapabilityProfile(
            "cursor",
            "Cursor",
            "Cursor's agent mode: files, shell, git and MCP tools; no direct network requests.",
            frozenset({READ_FILE, WRITE_FILE, EXECUTE_COMMAND, GIT_OPERATION, MCP_TOOL_CALL}),
            mcp_tools=("*",),
        ),
        CapabilityProfile(
            "gemini-cli",
            "Gemini CLI",
            "Google's terminal agent: files, shell, git, MCP tools and web fetches.",
            _CODING_AGENT,
            mcp_tools=("*",),
        ),
        CapabilityProfile(
            "ci-runner",
            "CI runner",
            "A pipeline job: reads and writes files, runs commands, pushes; no MCP tools.",
            frozenset({READ_FILE, WRITE_FILE, EXECUTE_COMMAND, GIT_OPERATION, NETWORK_REQUEST}),
        ),
        CapabilityProfile(
            "read-only",
            "Read-only",
            "Reviews and answers questions: may read files and nothing else.",
            frozenset({READ_FILE}),
        ),
        CapabilityProfile(
            CUSTOM,
            "Custom",
            "Exactly the actions and MCP tools listed on the agent itself.",
            frozenset(),
        ),
    )
}

PROFILE_CHOICES = [(p.key, p.label) for p in PROFILES.values()]


def get_profile(key: str) -> CapabilityProfile | None:
    return PROFILES.get(key)


@dataclass(frozen=True)
class EffectiveCapabilities:
    """What one agent may do: its profile narrowed by the agent's own lists."""

    actions: frozenset[str]
    repositories: tuple[str, ...]
    mcp_tools: tuple[str, ...]

    def allows_action(self, action: str) -> bool:
        return action in self.actions

    def allows_repository(self, repository: str) -> bool:
        return not self.repositories or glob_any(repository, self.repositories)

    def allows_mcp_tool(self, server_id: str, tool: str) -> bool:
        return glob_any(f"{server_id}:{tool}", self.mcp_tools)


def glob_any(value: str, patterns) -> bool:
    # Repository and server names are case-insensitive on every forge we know of.
    value = value.lower()
    return any(fnmatchcase(value, str(p).lower()) for p in patterns)


def effective_capabilities(agent) -> EffectiveCapabilities:
    """Custom agents carry their own lists; a built-in profile is only ever narrowed by the agent."""
    profile = PROFILES.get(agent.profile) or PROFILES[CUSTOM]
    if profile.key == CUSTOM:
        actions = frozenset(agent.allowed_actions or ())
        mcp_tools = tuple(agent.allowed_mcp_tools or ())
    else:
        actions = profile.actions
        if agent.allowed_actions:
            actions = actions & frozenset(agent.allowed_actions)
        mcp_tools = profile.mcp_tools
        if agent.allowed_mcp_tools:
            own = tuple(agent.allowed_mcp_tools)
            # Narrowing: keep the agent's patterns only when the profile allows anything at all.
            mcp_tools = own if profile.mcp_tools else ()
            if profile.mcp_tools and profile.mcp_tools != ("*",):
                mcp_tools = tuple(p for p in own if glob_any(p, profile.mcp_tools))
    repositories = tuple(agent.allowed_repositories or ()) or profile.repositories
    return EffectiveCapabilities(actions=actions, repositories=repositories, mcp_tools=mcp_tools)
