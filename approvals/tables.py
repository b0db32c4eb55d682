"""Approval lists as tables (core.tables): the history page and its CSV."""

from __future__ import annotations

import django_tables2 as tables
from django.utils.html import format_html

from approvals.models import ApprovalRequest
from core.tables import BadgeColumn, CodeColumn, LabelColumn, MomentColumn, PortalTable, list_meta


class ApprovalHistoryTable(PortalTable):
    requested_at = MomentColumn(verbose_name="Requested")
    public_id = tables.Column(verbose_name="Request", linkify=("approvals:detail", [tables.A("public_id")]))
    agent = tables.Column(accessor="agent__name", verbose_name="Agent", default="—")
    action = LabelColumn()
    target = CodeColumn(chars=60)
    repository = tables.Column(default="—")
    status = BadgeColumn(accessor="effective_status", order_by=("status",), verbose_name="State")
    decided_by = tables.Column(accessor="decided_by__email", verbose_name="Decided by", default="—")

    Meta = list_meta(ApprovalRequest, testid="history", row="approval", empty="No approval requests match.")

    def render_status(self, record):
        glass = (
            format_html(' <span class="badge badge-block">Break-glass</span>')
            if record.is_break_glass
            else ""
        )
        return format_html(
            '<span class="badge badge-{}" data-testid="status">{}</span>{}',
            record.effective_status,
            record.effective_status_display,
            glass,
        )

    def value_status(self, record):
        return record.effective_status_display
