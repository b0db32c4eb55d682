"""Celery tasks: refresh findings and roll up days. Tasks take ids and call a service."""

from __future__ import annotations

from datetime import date, timedelta

from celery import shared_task
from django.utils import timezone

from aispm.services.findings import findings_refresh
from aispm.services.rollups import rollup_day
from tenants.models import Tenant


@shared_task(name="aispm.refresh_findings")
def refresh_findings(tenant_id: int) -> dict:
    result = findings_refresh(tenant=Tenant.objects.get(pk=tenant_id))
    return result.__dict__


@shared_task(name="aispm.refresh_all_findings")
def refresh_all_findings() -> int:
    ids = list(Tenant.objects.values_list("pk", flat=True))
    for tenant_id in ids:
        refresh_findings.delay(tenant_id)
    return len(ids)


@shared_task(name="aispm.rollup_tenant_day")
def rollup_tenant_day(tenant_id: int, day: str) -> int:
    return rollup_day(tenant=Tenant.objects.get(pk=tenant_id), day=date.fromisoformat(day)).score


@shared_task(name="aispm.rollup_all_tenants")
def rollup_all_tenants() -> int:
    """Yesterday (late decisions) and today (so the stored partial stays close to the live one)."""
    today = timezone.now().date()
    ids = list(Tenant.objects.values_list("pk", flat=True))
    for tenant_id in ids:
        for day in (today - timedelta(days=1), today):
            rollup_tenant_day.delay(tenant_id, day.isoformat())
    return len(ids)
