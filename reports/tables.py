"""The report archive and the schedules as tables (core.tables): what the pages show and export."""

from __future__ import annotations

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from core.tables import MomentColumn, PortalTable, human_label, list_meta
from reports.models import ReportRun, ReportSchedule


class ReportRunTable(PortalTable):
    title = tables.Column(verbose_name="Report")
    public_id = tables.Column(verbose_name="Report id", visible=False)
    created_at = MomentColumn(verbose_name="Generated")
    trigger = tables.Column()
    schedule = tables.Column(accessor="schedule__name", verbose_name="Schedule", default="—")
    files = tables.Column(accessor="pk", verbose_name="Files", orderable=False)
    manifest_sha256 = tables.Column(verbose_name="Manifest SHA-256", visible=False)

    Meta = list_meta(
        ReportRun,
        testid="report-archive",
        row="report",
        empty="No report matches. Add a schedule and press “Run now”.",
    )

    def render_title(self, record):
        return format_html(
            '<a href="{}">{}</a><br><span class="muted">{}</span>',
            reverse("reports:report", args=[record.public_id]),
            record.title,
            record.public_id,
        )

    def value_title(self, value):
        return value

    def render_schedule(self, record, value):
        return format_html(
            '<a href="{}">{}</a>', reverse("reports:schedule", args=[record.schedule.public_id]), value
        )

    def render_files(self, record):
        return format_html_join(
            " · ",
            '<a href="{}">{}{}</a>',
            (
                (
                    reverse("reports:report-file", args=[record.public_id, f.variant, f.format]),
                    f.format.upper(),
                    " (redacted)" if f.variant == "redacted" else "",
                )
                for f in record.files.all()
            ),
        )

    def value_files(self, record):
        return ", ".join(
            f"{f.format}{' (redacted)' if f.variant == 'redacted' else ''}" for f in record.files.all()
        )


class ScheduleTable(PortalTable):
    name = tables.Column(verbose_name="Schedule", linkify=("reports:schedule", [tables.A("public_id")]))
    public_id = tables.Column(verbose_name="Schedule id", visible=False)
    report_type = tables.Column(verbose_name="Report")
    cron = tables.Column(verbose_name="Cadence")
    recipients = tables.Column(accessor="pk", verbose_name="Recipients", orderable=False)
    paused = tables.Column(verbose_name="State")
    updated_at = MomentColumn(verbose_name="Changed")

    Meta = list_meta(ReportSchedule, testid="schedules", row="schedule", empty="No schedule matches.")

    def render_report_type(self, record):
        return record.get_report_title()

    def value_report_type(self, record):
        return record.get_report_title()

    def render_cron(self, record):
        return format_html("<code>{}</code> {}", record.cron, record.timezone)

    def value_cron(self, record):
        return f"{record.cron} {record.timezone}"

    def value_recipients(self, record):
        return "; ".join(
            part
            for part in (
                ", ".join(map(human_label, record.recipient_roles)),
                ", ".join(record.recipient_emails),
            )
            if part
        )

    def render_recipients(self, record):
        return self.value_recipients(record) or "—"

    def render_paused(self, value):
        return (
            mark_safe('<span class="badge">Paused</span>')
            if value
            else mark_safe('<span class="badge badge-low">Active</span>')
        )

    def value_paused(self, value):
        return "Paused" if value else "Active"
