"""Running a schedule: generate its report and hand the e-mails to the outbox, in one transaction."""

from __future__ import annotations

from django.db import transaction

from reports.content import Scope
from reports.models import ReportRun, ReportSchedule
from reports.services.deliveries import recipients_resolve, report_deliveries_enqueue
from reports.services.generate import report_generate


def schedule_scope(schedule: ReportSchedule) -> Scope:
    return Scope(window_days=schedule.window_days, repositories=list(schedule.repositories),
                 frameworks=list(schedule.frameworks))  # fmt: skip


def report_schedule_run(*, schedule: ReportSchedule, trigger: str, actor=None, now=None) -> ReportRun:
    """Generate now and send to the recipients allowed today (refused ones are listed on the run)."""
    members, external, refused = recipients_resolve(schedule)
    with transaction.atomic():
        run = report_generate(
            tenant=schedule.tenant, report_type=schedule.report_type, scope=schedule_scope(schedule),
            formats=schedule.formats, trigger=trigger, schedule=schedule, with_redacted=bool(external),
            actor=actor, now=now,
        )  # fmt: skip
        if refused:
            run.scope = {**run.scope, "refused_recipients": refused}
            run.save(update_fields=["scope"])
        report_deliveries_enqueue(run=run, members=members, external=external)
    return run
