"""The registry lists as tables (core.tables): what the agents and MCP servers pages show and export."""

from __future__ import annotations

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html

from core.tables import MomentColumn, PortalTable, list_meta
from registry.models import Agent, McpServer


def _badge(css: str, label: str):
    return format_html('<span class="badge{}">{}</span>', css, label)


class AgentTable(PortalTable):
    name = tables.Column(verbose_name="Agent")
    public_id = tables.Column(
        verbose_name="Agent id", visible=False
    )  # in the CSV; the page shows it under the name
    profile = tables.Column()
    status = tables.Column()
    risk_tier = tables.Column(verbose_name="Risk")
    owner = tables.Column(accessor="owner__email", verbose_name="Owner", default="—")
    active_credentials = tables.Column(verbose_name="Active tokens")
    last_seen_at = MomentColumn(verbose_name="Last seen")

    Meta = list_meta(Agent, testid="agents-table", row="agent", empty="No agents match.", key="name")

    def render_name(self, record):
        return format_html(
            '<a href="{}">{}</a><br><span class="muted">{}</span>',
            reverse("registry:agent", args=[record.public_id]),
            record.name,
            record.public_id,
        )

    def value_name(self, record):
        return record.name

    def value_status(self, record):
        return record.get_status_display()

    def value_risk_tier(self, record):
        return record.get_risk_tier_display()

    def render_status(self, record):
        return _badge(
            "" if record.status == Agent.Status.ACTIVE else " badge-block", record.get_status_display()
        )

    def render_risk_tier(self, record):
        return _badge(f" badge-{record.risk_tier}", record.get_risk_tier_display())


class McpServerTable(PortalTable):
    server_id = tables.Column(verbose_name="Server")
    name = tables.Column(visible=False)  # in the CSV; the page shows it under the server id
    publisher = tables.Column(default="—")
    transport = tables.Column()
    trust_tier = tables.Column()
    approval_state = tables.Column(verbose_name="Approval")
    tool_count = tables.Column(verbose_name="Tools")
    attention_count = tables.Column(verbose_name="Tools to review", visible=False)

    Meta = list_meta(
        McpServer, testid="servers-table", row="server", empty="No MCP servers match.", key="server_id"
    )

    def render_server_id(self, record):
        return format_html(
            '<a href="{}">{}</a><br><span class="muted">{}</span>',
            reverse("registry:mcp-server", args=[record.public_id]),
            record.server_id,
            record.name,
        )

    def value_server_id(self, record):
        return record.server_id

    def value_trust_tier(self, record):
        return record.get_trust_tier_display()

    def value_tool_count(self, record):
        return record.tool_count

    def render_trust_tier(self, record):
        css = {McpServer.TrustTier.BLOCKED: " badge-block", McpServer.TrustTier.EXPERIMENTAL: " badge-medium"}
        return _badge(css.get(record.trust_tier, ""), record.get_trust_tier_display())

    def render_tool_count(self, record):
        if not record.attention_count:
            return record.tool_count
        return format_html(
            '{} <span class="badge badge-high">{} to review</span>', record.tool_count, record.attention_count
        )
