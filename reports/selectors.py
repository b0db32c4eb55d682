"""Reads of the reports app: archive, one report with its files and deliveries, schedules with their runs."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from core.authz import get_for_tenant_or_404
from core.models import OutboxAttempt
from reports.capabilities import VIEW_ARCHIVE
from reports.models import ReportDelivery, ReportFile, ReportRun, ReportSchedule
from tenants.models import Tenant

FILE_FIELDS = ("id", "run_id", "variant", "format", "name", "content_type", "size", "sha256")


def report_archive(*, tenant: Tenant, user) -> QuerySet[ReportRun]:
    files = ReportFile.objects.only(*FILE_FIELDS)
    return (
        ReportRun.objects.visible_to(user, VIEW_ARCHIVE, tenant=tenant)
        .select_related("schedule")
        .prefetch_related(Prefetch("files", queryset=files))
        .defer("manifest")
        .order_by("-created_at", "-id")
    )


def report_get(*, tenant: Tenant, user, public_id: str) -> ReportRun:
    deliveries = ReportDelivery.objects.select_related("outbox").prefetch_related(
        Prefetch("outbox__attempt_log", queryset=OutboxAttempt.objects.order_by("number"))
    )
    qs = ReportRun.objects.visible_to(user, VIEW_ARCHIVE, tenant=tenant).prefetch_related(
        Prefetch("files", queryset=ReportFile.objects.only(*FILE_FIELDS)),
        Prefetch("deliveries", queryset=deliveries),
    )
    return get_for_tenant_or_404(qs, tenant, public_id=public_id)


def report_file_get(*, run: ReportRun, variant: str, format: str) -> ReportFile:
    from django.http import Http404

    found = ReportFile.objects.filter(run=run, variant=variant, format=format).first()
    if found is None:
        raise Http404("This report has no such file.")
    return found


def schedules_list(*, tenant: Tenant, user) -> QuerySet[ReportSchedule]:
    return ReportSchedule.objects.visible_to(user, VIEW_ARCHIVE, tenant=tenant).order_by("name", "id")


def schedule_get(*, tenant: Tenant, user, public_id: str) -> ReportSchedule:
    return get_for_tenant_or_404(schedules_list(tenant=tenant, user=user), tenant, public_id=public_id)


def schedule_runs(*, schedule: ReportSchedule, limit: int = 50) -> list[ReportRun]:
    return list(
        schedule.runs.defer("manifest").prefetch_related("deliveries").order_by("-created_at", "-id")[:limit]
    )
