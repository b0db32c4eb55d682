"""The findings list as a table (core.tables): what the page shows and exports."""

from __future__ import annotations

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from aispm.models import Finding
from core.tables import BadgeColumn, MomentColumn, PortalTable, list_meta


class FindingTable(PortalTable):
    severity = BadgeColumn(order_by=("severity_rank",))
    title = tables.Column(verbose_name="Finding")
    public_id = tables.Column(verbose_name="Finding id", visible=False)
    check_id = tables.Column(verbose_name="Check", visible=False)
    detail = tables.Column(visible=False, default="")
    surface = tables.Column()
    agent_ref = tables.Column(verbose_name="Agent", default="—")
    repository = tables.Column(default="—")
    status = BadgeColumn()
    first_seen_at = MomentColumn(verbose_name="Since")
    status_changed_at = MomentColumn(verbose_name="Changed")
    risk_accepted_by = tables.Column(accessor="risk_accepted_by__email", visible=False, default="")
    risk_accepted_until = MomentColumn(visible=False, empty="")
    risk_accepted_reason = tables.Column(visible=False, default="")

    Meta = list_meta(Finding, testid="findings", row="finding", empty="No findings match.")

    def render_title(self, record):
        return format_html(
            '<a href="{}">{}</a><br><span class="muted">{}</span>',
            reverse("aispm:finding", args=[record.public_id]),
            record.title,
            Truncator(record.detail).chars(120),
        )

    def value_title(self, value):
        return value
