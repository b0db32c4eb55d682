"""Scheduled reports end to end: beat fires on time (fixed clock), the report is generated, signed and
delivered over real SMTP: HTML with the PDF attached to members by role, a redacted copy outside."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError
from django_celery_beat.schedulers import ModelEntry
from pypdf import PdfReader

from aispm.models import Finding
from cavra_portal.celery import app as celery_app
from core.models import OutboxMessage
from core.outbox import outbox_deliver_due
from core.roles import Role
from evidence.models import EvidenceRecord
from evidence.services import trust_root_export
from evidence.services.documents import document_verify
from reports.models import ReportDelivery, ReportRun
from reports.services.schedules import recipient_policy_update, report_schedule_create
from tests.factories import decision_recorded, session_opened

pytestmark = pytest.mark.django_db

SECRET_COMMAND = "rm -rf /srv/payroll/ledger-2026"


@pytest.fixture
def people(acme, member):
    return {
        "officer": member(acme, Role.COMPLIANCE_OFFICER, email="officer@acme.test"),
        "exec": member(acme, Role.EXECUTIVE, email="ceo@acme.test"),
        "admin": member(acme, Role.TENANT_ADMIN, email="admin@acme.test"),
        "reader": member(acme, Role.REPORT_RECIPIENT, email="reader@acme.test"),
        "operator": member(acme, Role.OPERATOR, email="ops@acme.test"),
    }


@pytest.fixture
def activity(acme):
    session = session_opened(acme, repository="acme/payroll")
    decision_recorded(acme, session, action="execute_command", target=SECRET_COMMAND, decision="block",
                      rule_id="baseline.destructive.rm", severity="critical", reason=f"blocked: {SECRET_COMMAND}")  # fmt: skip
    decision_recorded(acme, session, action="read_file", target="src/app.py", decision="allow")
    return session


def _brief_schedule(acme, people, **extra):
    recipient_policy_update(tenant=acme, allowed_domains=["auditors.example"], actor=people["admin"])
    return report_schedule_create(
        tenant=acme, actor=people["officer"],
        data={"name": "Monday brief", "report_type": "executive_brief", "cron": "0 7 * * 1",
              "timezone": "Europe/Berlin", "recipient_roles": [Role.EXECUTIVE, Role.REPORT_RECIPIENT],
              "recipient_emails": ["partner@auditors.example"], **extra},
    )  # fmt: skip


LAST_BEAT = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)  # a Sunday: the entry last ran before this Monday


def _beat_tick(schedule, now: datetime):
    """What django-celery-beat's scheduler does for one entry at `now`: ask is_due, and send when due."""
    schedule.periodic_task.refresh_from_db()
    schedule.periodic_task.last_run_at = LAST_BEAT
    entry = ModelEntry(schedule.periodic_task, app=celery_app)
    entry.schedule.nowfun = lambda: now
    due, _next = entry.is_due()
    if due:
        celery_app.tasks[entry.task].apply(args=entry.args, kwargs=entry.kwargs).get()
    return due


def _pdf_text(part) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(part.get_content())).pages)


def test_scheduled_brief_is_generated_on_time_by_beat_and_delivered(
    acme, people, activity, smtp_sink, django_capture_on_commit_callbacks
):
    schedule = _brief_schedule(acme, people)
    # Monday 07:00 in Berlin is 06:00 UTC in winter: at 05:59 UTC beat does nothing, at 06:00 it fires.
    assert not _beat_tick(schedule, datetime(2026, 12, 7, 5, 59, tzinfo=UTC))
    assert ReportRun.objects.count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert _beat_tick(schedule, datetime(2026, 12, 7, 6, 0, 30, tzinfo=UTC))
    run = ReportRun.objects.get()
    assert run.trigger == "schedule" and run.schedule == schedule

    # Members by role get the full brief: HTML body and the PDF attached, whose text is the brief.
    for address in ("ceo@acme.test", "reader@acme.test"):
        (message,) = smtp_sink.to(address)
        html = message.get_body(preferencelist=("html",)).get_content()
        assert "Executive brief" in html and SECRET_COMMAND in html
        (pdf,) = [p for p in message.iter_attachments() if p.get_content_type() == "application/pdf"]
        text = _pdf_text(pdf)
        assert "Executive brief" in text and "Posture" in text and "baseline.destructive.rm" in text
        assert "ledger-2026" in text  # the full variant names the target
    assert not smtp_sink.to("ops@acme.test") and not smtp_sink.to("officer@acme.test")  # roles not chosen

    # The allowed external domain gets its own redacted copy: no command, no path, no reason text.
    (outside,) = smtp_sink.to("partner@auditors.example")
    rcpts = next(r for r, m in smtp_sink.messages if m is outside)
    assert rcpts == ["partner@auditors.example"]  # an outsider never sees who else received it
    html = outside.get_body(preferencelist=("html",)).get_content()
    assert "[redacted]" in html and "ledger-2026" not in html and "/srv/" not in html
    (pdf,) = [p for p in outside.iter_attachments() if p.get_content_type() == "application/pdf"]
    text = _pdf_text(pdf)
    assert "Redacted copy" in text and "ledger-2026" not in text and "baseline.destructive.rm" in text

    # Every delivery is a record with the SMTP message-id, and evidence of what went where.
    deliveries = list(run.deliveries.order_by("variant"))
    assert [(d.variant, d.status) for d in deliveries] == [("full", "delivered"), ("redacted", "delivered")]
    assert outside["Message-ID"].strip() == next(d for d in deliveries if d.variant == "redacted").message_id
    delivered = EvidenceRecord.objects.filter(tenant=acme, kind="report.delivered")
    assert {tuple(r.payload["recipients"]) for r in delivered} == {
        ("ceo@acme.test", "reader@acme.test"),
        ("partner@auditors.example",),
    }
    assert all(r.payload["manifest_sha256"] == run.manifest_sha256 for r in delivered)


def test_manifest_lists_every_file_digest_and_verifies_with_the_trust_root(acme, people, activity):
    import hashlib

    schedule = _brief_schedule(acme, people)
    from reports.services.runs import report_schedule_run

    run = report_schedule_run(schedule=schedule, trigger="run_now", actor=people["officer"])
    manifest = run.manifest
    assert document_verify(manifest, trust_root_export(acme)) is None
    files = {(f.variant, f.format): f for f in run.files.all()}
    assert set(files) == {("full", "html"), ("full", "pdf"), ("redacted", "html"), ("redacted", "pdf")}
    for entry in manifest["files"]:
        f = files[(entry["variant"], entry["format"])]
        assert entry["sha256"] == hashlib.sha256(bytes(f.content)).hexdigest() == f.sha256
    tampered = json.loads(json.dumps(manifest))
    tampered["files"][0]["sha256"] = "0" * 64
    assert document_verify(tampered, trust_root_export(acme)) == "signature does not verify"
    record = EvidenceRecord.objects.get(tenant=acme, kind="report.generated")
    assert record.subject == run.public_id and record.payload["manifest_sha256"] == run.manifest_sha256


def test_a_domain_the_policy_does_not_allow_is_refused_at_save_naming_the_field(acme, people):
    recipient_policy_update(tenant=acme, allowed_domains=["auditors.example"], actor=people["admin"])
    with pytest.raises(ValidationError) as exc:
        report_schedule_create(
            tenant=acme, actor=people["officer"],
            data={"name": "Leak", "report_type": "executive_brief", "cron": "0 7 * * 1",
                  "recipient_emails": ["someone@gmail.example"]},
        )  # fmt: skip
    assert "someone@gmail.example" in exc.value.message_dict["recipient_emails"][0]
    # A member's own address is internal whatever its domain.
    report_schedule_create(
        tenant=acme, actor=people["officer"],
        data={"name": "Ok", "report_type": "executive_brief", "cron": "0 7 * * 1",
              "recipient_emails": ["ops@acme.test"]},
    )  # fmt: skip


def test_smtp_refusing_then_accepting_delivers_once(
    acme, people, activity, smtp_sink, django_capture_on_commit_callbacks
):
    schedule = report_schedule_create(
        tenant=acme, actor=people["officer"],
        data={"name": "Brief", "report_type": "executive_brief", "cron": "0 7 * * 1",
              "recipient_roles": [Role.EXECUTIVE], "formats": ["pdf"]},
    )  # fmt: skip
    from reports.services.runs import report_schedule_run

    smtp_sink.refuse = 1
    with django_capture_on_commit_callbacks(execute=True):
        run = report_schedule_run(schedule=schedule, trigger="run_now", actor=people["officer"])
    delivery = run.deliveries.get()
    assert delivery.status == "pending" and delivery.failures == 1 and "451" in delivery.last_error
    assert smtp_sink.messages == []
    OutboxMessage.objects.filter(pk=delivery.outbox_id).update(next_attempt_at=datetime.now(UTC))
    assert outbox_deliver_due() == 1
    assert outbox_deliver_due() == 0  # delivered: nothing left to send again
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and len(smtp_sink.to("ceo@acme.test")) == 1
    attempts = list(delivery.outbox.attempt_log.values_list("ok", flat=True))
    assert attempts == [False, True]


def test_repeated_failures_escalate_to_admins_and_open_a_finding(
    acme, people, activity, smtp_sink, settings, django_capture_on_commit_callbacks
):
    settings.REPORT_DELIVERY_ESCALATE_AFTER = 2
    schedule = report_schedule_create(
        tenant=acme, actor=people["officer"],
        data={"name": "Brief", "report_type": "board_kpi", "cron": "0 7 * * 1", "recipient_roles": [Role.EXECUTIVE]},
    )  # fmt: skip
    from reports.services.runs import report_schedule_run

    smtp_sink.refuse = 2
    with django_capture_on_commit_callbacks(execute=True):
        run = report_schedule_run(schedule=schedule, trigger="run_now", actor=people["officer"])
    delivery = run.deliveries.get()
    OutboxMessage.objects.filter(pk=delivery.outbox_id).update(next_attempt_at=datetime.now(UTC))
    with django_capture_on_commit_callbacks(execute=True):
        outbox_deliver_due()
    delivery.refresh_from_db()
    assert delivery.status == ReportDelivery.Status.ESCALATED and delivery.failures == 2
    finding = Finding.objects.get(tenant=acme, check_id="report.delivery_failing")
    assert finding.status == "open" and run.public_id in finding.detail
    assert EvidenceRecord.objects.filter(
        tenant=acme, kind="report.delivery_failed", subject=delivery.public_id
    ).exists()
    (alert,) = smtp_sink.to("admin@acme.test")  # the admins' notice went out (the sink accepts again)
    assert "Report delivery failing" in alert["Subject"]
    # The next attempt succeeds: delivered once, and the finding resolves on the next check run.
    OutboxMessage.objects.filter(pk=delivery.outbox_id).update(next_attempt_at=datetime.now(UTC))
    outbox_deliver_due()
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and len(smtp_sink.to("ceo@acme.test")) == 1
    from aispm.services.findings import findings_refresh

    findings_refresh(tenant=acme, check_ids={"report.delivery_failing"})
    finding.refresh_from_db()
    assert finding.status == "resolved"


def test_readiness_item_report_delivered_follows_the_deliveries(
    acme, people, activity, smtp_sink, django_capture_on_commit_callbacks
):
    from aispm.services.readiness import readiness
    from reports.services.runs import report_schedule_run

    def item():
        return next(c for c in readiness(tenant=acme)["checks"] if c["id"] == "report_delivered")

    assert item()["status"] == "not_evaluated"  # no schedule: nothing expected
    schedule = report_schedule_create(
        tenant=acme, actor=people["officer"],
        data={"name": "KPIs", "report_type": "board_kpi", "cron": "0 7 1 * *", "recipient_roles": [Role.EXECUTIVE]},
    )  # fmt: skip
    assert item()["status"] == "fail"
    with django_capture_on_commit_callbacks(execute=True):
        report_schedule_run(schedule=schedule, trigger="run_now", actor=people["officer"])
    assert item()["status"] == "pass"
