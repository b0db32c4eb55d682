"""The activity explorer's decisions as a table (core.tables): what the page shows and exports."""

from __future__ import annotations

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html

from core.tables import BadgeColumn, CodeColumn, LabelColumn, MomentColumn, PortalTable, list_meta
from evidence.models import AgentSession, Decision


class DecisionTable(PortalTable):
    created_at = MomentColumn(verbose_name="Time")
    public_id = tables.Column(verbose_name="Decision id", visible=False)  # in the CSV; the page links it
    decision = BadgeColumn()
    agent_ref = tables.Column(verbose_name="Agent", default="—")
    action = LabelColumn()
    target = CodeColumn(chars=70)
    repository = tables.Column(default="—")
    environment = tables.Column(visible=False, default="")
    rule_id = CodeColumn(verbose_name="Rule", default="default")
    severity = BadgeColumn(default="")
    reason = tables.Column(visible=False, default="")

    Meta = list_meta(Decision, testid="decisions", row="decision", empty="No decisions match.")

    def render_created_at(self, record, value):
        moment = self.columns["created_at"].column.render(value)
        return format_html(
            '<a href="{}">{}</a>', reverse("policies:decision", args=[record.public_id]), moment
        )

    def value_created_at(self, value):
        return self.columns["created_at"].column.value(value)

    def render_repository(self, record):
        if record.environment:
            return f"{record.repository or '—'} / {record.environment}"
        return record.repository or "—"

    def value_repository(self, record):
        return record.repository


class SessionTable(PortalTable):
    public_id = tables.Column(verbose_name="Session", linkify=("policies:session", [tables.A("public_id")]))
    agent_name = tables.Column(verbose_name="Agent", default="—")
    agent_ref = tables.Column(verbose_name="Agent id", visible=False, default="")
    repository = tables.Column(default="—")
    environment = tables.Column(default="—")
    started_at = MomentColumn(verbose_name="Started")
    last_seen_at = MomentColumn(verbose_name="Last seen")

    Meta = list_meta(AgentSession, testid="sessions", row="session", empty="No sessions match.")
