from registry.selectors import READ_ROLES

NAV_ITEMS = [
    ("Agents", "registry:agents", READ_ROLES),
    ("MCP servers", "registry:mcp-servers", READ_ROLES),
]
