"""Reports: archive, report files and manifest, schedules (run now, pause, preview), recipient policy."""

from core.roles import Role
from reports.capabilities import ARCHIVE_ROLES, POLICY_ROLES, SCHEDULE_ROLES
from reports.content import Scope
from reports.services.generate import report_generate
from reports.services.schedules import report_schedule_create
from tests.permission_matrix import Entry


def _schedule(ctx) -> dict:
    schedule = report_schedule_create(
        tenant=ctx.tenant, actor=None,
        data={"name": f"Weekly {ctx.seq()}", "report_type": "findings_export", "cron": "0 7 * * 1",
              "timezone": "UTC", "recipient_roles": [Role.COMPLIANCE_OFFICER]},
    )  # fmt: skip
    return {"schedule_id": schedule.public_id}


def _report(ctx) -> dict:
    run = report_generate(tenant=ctx.tenant, report_type="findings_export", scope=Scope(), formats=["csv"])
    return {"report_id": run.public_id}


def _file(ctx) -> dict:
    return {**_report(ctx), "variant": "full", "file_format": "csv"}


SCHEDULE_FORM = {"name": "Monthly", "report_type": "findings_export", "cron": "0 6 1 * *", "timezone": "UTC",
                 "window_days": "30", "recipient_roles": ["compliance_officer"]}  # fmt: skip
SCHEDULE_API = {"name": "Monthly", "report_type": "findings_export", "cron": "0 6 1 * *",
                "recipient_roles": ["compliance_officer"]}  # fmt: skip

ENTRIES = [
    Entry("reports:archive", roles=ARCHIVE_ROLES),
    Entry(
        "reports:archive-export",
        roles=ARCHIVE_ROLES,
        note="CSV of the page's rows (tests/core/test_list_tables.py)",
    ),
    Entry(
        "reports:schedules-export",
        roles=ARCHIVE_ROLES,
        note="CSV of the page's rows (tests/core/test_list_tables.py)",
    ),
    Entry("reports:report", roles=ARCHIVE_ROLES, kwargs=_report),
    Entry("reports:report-manifest", roles=ARCHIVE_ROLES, kwargs=_report),
    Entry("reports:report-file", roles=ARCHIVE_ROLES, kwargs=_file),
    Entry("reports:schedules", roles=ARCHIVE_ROLES),
    Entry("reports:schedules", roles=SCHEDULE_ROLES, method="POST", data=SCHEDULE_FORM, ok=(302,)),
    Entry("reports:schedule", roles=ARCHIVE_ROLES, kwargs=_schedule),
    Entry(
        "reports:schedule",
        roles=SCHEDULE_ROLES,
        method="POST",
        kwargs=_schedule,
        data=SCHEDULE_FORM,
        ok=(302,),
    ),
    Entry("reports:schedule-run", roles=SCHEDULE_ROLES, method="POST", kwargs=_schedule, ok=(302,)),
    Entry(
        "reports:schedule-pause",
        roles=SCHEDULE_ROLES,
        method="POST",
        kwargs=_schedule,
        data={"paused": "1"},
        ok=(302,),
    ),  # fmt: skip
    Entry("reports:schedule-preview", roles=SCHEDULE_ROLES, kwargs=_schedule),
    Entry("reports:recipient-policy", roles=ARCHIVE_ROLES),
    Entry(
        "reports:recipient-policy",
        roles=POLICY_ROLES,
        method="POST",
        data={"allowed_domains": "example.org"},
        ok=(302,),
    ),  # fmt: skip
    Entry("reports-api:schedules", roles=ARCHIVE_ROLES, api=True),
    Entry(
        "reports-api:schedules", roles=SCHEDULE_ROLES, api=True, method="POST", data=SCHEDULE_API, ok=(201,)
    ),
    Entry("reports-api:schedule", roles=ARCHIVE_ROLES, api=True, kwargs=_schedule),
    Entry(
        "reports-api:schedule",
        roles=SCHEDULE_ROLES,
        api=True,
        method="PATCH",
        kwargs=_schedule,
        data={"window_days": 7},
    ),  # fmt: skip
    Entry(
        "reports-api:schedule", roles=SCHEDULE_ROLES, api=True, method="DELETE", kwargs=_schedule, ok=(204,)
    ),
    Entry(
        "reports-api:schedule-run", roles=SCHEDULE_ROLES, api=True, method="POST", kwargs=_schedule, ok=(201,)
    ),
    Entry(
        "reports-api:schedule-pause",
        roles=SCHEDULE_ROLES,
        api=True,
        method="POST",
        kwargs=_schedule,
        data={"paused": True},
    ),  # fmt: skip
    Entry("reports-api:archive", roles=ARCHIVE_ROLES, api=True),
    Entry("reports-api:report", roles=ARCHIVE_ROLES, api=True, kwargs=_report),
    Entry("reports-api:report-file", roles=ARCHIVE_ROLES, api=True, kwargs=_file),
    Entry("reports-api:recipient-policy", roles=ARCHIVE_ROLES, api=True),
    Entry(
        "reports-api:recipient-policy",
        roles=POLICY_ROLES,
        api=True,
        method="PUT",
        data={"allowed_domains": ["example.org"]},
    ),  # fmt: skip
]
