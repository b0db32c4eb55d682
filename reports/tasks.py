"""Celery tasks of the reports app: take ids, call a service."""

from __future__ import annotations

from celery import shared_task

from reports.models import ReportRun, ReportSchedule
from reports.services.runs import report_schedule_run
from reports.services.schedules import RUN_SCHEDULE_TASK


@shared_task(name=RUN_SCHEDULE_TASK)
def run_schedule(schedule_id: int) -> str:
    """Beat's entry point for one schedule; a paused or deleted schedule does nothing."""
    schedule = ReportSchedule.objects.select_related("tenant").filter(pk=schedule_id).first()
    if schedule is None or schedule.paused:
        return "skipped"
    return report_schedule_run(schedule=schedule, trigger=ReportRun.Trigger.SCHEDULE).public_id
