NAV_ITEMS = [
    ("Agents", "registry:agents", "registry.view"),
    ("MCP servers", "registry:mcp-servers", "registry.view"),
]
