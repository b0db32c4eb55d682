"""The activity explorer's decisions as a table (core.tables): what the page shows and exports."""

from __future__ import annotations

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from core.tables import LabelColumn, MomentColumn, PortalTable, human_label
from evidence.models import Decision


class DecisionTable(PortalTable):
    created_at = MomentColumn(verbose_name="Time")
    public_id = tables.Column(verbose_name="Decision id", visible=False)  # in the CSV; the page links it
    decision = tables.Column()
    agent_ref = tables.Column(verbose_name="Agent", default="—")
    action = LabelColumn()
    target = tables.Column()
    repository = tables.Column(default="—")
    environment = tables.Column(visible=False, default="")
    rule_id = tables.Column(verbose_name="Rule", default="default")
    severity = LabelColumn(default="")
    reason = tables.Column(visible=False, default="")

    class Meta(PortalTable.Meta):
        model = Decision
        fields = ()
        order_by_field = "sort"
        attrs = {**PortalTable.Meta.attrs, "data-testid": "decisions"}
        row_attrs = {"data-decision": lambda record: record.public_id}
        empty_text = "No decisions match."

    def render_created_at(self, record, value):
        moment = self.columns["created_at"].column.render(value)
        return format_html(
            '<a href="{}">{}</a>', reverse("policies:decision", args=[record.public_id]), moment
        )

    def value_created_at(self, value):
        return self.columns["created_at"].column.value(value)

    def render_decision(self, record):
        return format_html(
            '<span class="badge badge-{}">{}</span>', record.decision, record.get_decision_display()
        )

    def value_decision(self, record):
        return record.get_decision_display()

    def render_target(self, value):
        return format_html("<code>{}</code>", Truncator(value).chars(70))

    def value_target(self, value):
        return value

    def render_repository(self, record):
        if record.environment:
            return f"{record.repository or '—'} / {record.environment}"
        return record.repository or "—"

    def value_repository(self, record):
        return record.repository

    def render_rule_id(self, value):
        return format_html("<code>{}</code>", value)

    def value_rule_id(self, value):
        return value

    def render_severity(self, value):
        return format_html('<span class="badge badge-{}">{}</span>', value, human_label(value))
