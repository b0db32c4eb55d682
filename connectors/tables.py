"""The connectors list as a table (core.tables): what the page shows and exports."""

from __future__ import annotations

import django_tables2 as tables
from django.utils.html import format_html

from connectors.models import Connector
from core.tables import MomentColumn, PortalTable, human_label, list_meta


class ConnectorTable(PortalTable):
    name = tables.Column(linkify=("connectors:detail", [tables.A("public_id")]))
    public_id = tables.Column(verbose_name="Connector id", visible=False)
    kind = tables.Column()
    health = tables.Column(accessor="health", orderable=False)
    event_types = tables.Column(verbose_name="Events", orderable=False)
    min_severity = tables.Column(verbose_name="From severity")
    last_success_at = MomentColumn(verbose_name="Last success", empty="—")
    last_error_at = MomentColumn(verbose_name="Last error", empty="—")

    Meta = list_meta(Connector, testid="connectors", row="connector", empty="No connector matches.")

    def render_health(self, value):
        return format_html('<span class="badge badge-health-{}">{}</span>', value, human_label(value))

    def value_health(self, value):
        return human_label(value)

    def render_event_types(self, value):
        return ", ".join(map(human_label, value))

    def value_event_types(self, value):
        return self.render_event_types(value)

    def render_min_severity(self, value):
        return human_label(value)

    def value_min_severity(self, value):
        return human_label(value)
