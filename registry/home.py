"""Home panel for operators and tenant admins: agents by status, MCP trust tiers, tools to review."""

from __future__ import annotations

from core.pages import HomePanel
from registry.selectors import registry_summary


def _summary_context(*, user, tenant) -> dict:
    return registry_summary(tenant=tenant, user=user)


HOME_PANELS = [
    HomePanel(
        "Agent and MCP registry",
        "registry/panels/summary.html",
        "registry.manage_agents",
        _summary_context,
        order=30,
    ),
]
