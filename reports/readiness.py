"""The readiness item reports evaluate for AISPM's packet: scheduled reports actually arrive."""

from __future__ import annotations

from datetime import timedelta

from aispm.services.readiness import readiness_item
from reports.models import ReportDelivery, ReportSchedule

ITEM_ID = "report_delivered"
TITLE = "A report was delivered in the last 30 days"


def report_delivered(tenant, now) -> dict:
    """Not evaluated without an active schedule; else pass when one was delivered in 30 days and none is
    escalated or given up."""
    if not ReportSchedule.objects.filter(tenant=tenant, paused=False).exists():
        return readiness_item(
            ITEM_ID, TITLE, None, "No active report schedule: nothing is expected to arrive."
        )
    deliveries = ReportDelivery.objects.filter(tenant=tenant)
    failing = deliveries.filter(
        status__in=(ReportDelivery.Status.ESCALATED, ReportDelivery.Status.FAILED)
    ).count()
    recent = deliveries.filter(
        status=ReportDelivery.Status.DELIVERED, delivered_at__gte=now - timedelta(days=30)
    )
    if failing:
        return readiness_item(ITEM_ID, TITLE, False, f"{failing} report delivery(ies) failing; see Reports.")
    if not recent.exists():
        return readiness_item(ITEM_ID, TITLE, False, "Active schedules, but no report delivered in 30 days.")
    return readiness_item(ITEM_ID, TITLE, True, f"{recent.count()} delivered in the last 30 days.")
