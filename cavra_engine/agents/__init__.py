"""Agent reach: the portal client, the agent-neutral gate and the adapters (Claude Code hook, CI check,
offline bundles, MCP gateway). Nothing here imports Django, so a hook starts in milliseconds."""
