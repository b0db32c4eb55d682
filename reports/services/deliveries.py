"""Sending a report by e-mail through the outbox: recipients resolved under the recipient policy, full
variant to members, redacted variant to allowed external addresses, escalation after repeated failures.

The outbox (core.outbox) owns retries, backoff and the attempt log; the transport registered here for
the `report` channel builds the MIME message from the stored report and keeps the delivery record
(message-id, failures, final state, evidence) in the same transaction as the outbox's attempt.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from aispm.services.findings import findings_refresh
from core.models import OutboxMessage
from core.outbox import MAX_ATTEMPTS, outbox_enqueue, redact
from core.roles import Role
from evidence import kinds
from evidence.services import evidence_append
from reports.checks import DELIVERY_CHECK_ID
from reports.models import ReportDelivery, ReportRun, ReportSchedule
from reports.services.schedules import domain_allowed, external_addresses, recipient_policy_get
from tenants.selectors import members_with_role

KIND = "report.email"


def escalate_after() -> int:
    return int(getattr(settings, "REPORT_DELIVERY_ESCALATE_AFTER", 3))


def recipients_resolve(schedule: ReportSchedule) -> tuple[list[str], list[str], list[str]]:
    """(members, allowed external addresses, refused addresses) for one send, under today's policy."""
    tenant = schedule.tenant
    members = {
        m.user.email.lower()
        for role in schedule.recipient_roles
        for m in members_with_role(tenant=tenant, role=role)
        if m.user.is_active and m.user.email
    }
    external = set(external_addresses(tenant, schedule.recipient_emails))
    members |= set(schedule.recipient_emails) - external
    policy = recipient_policy_get(tenant)
    allowed = sorted(e for e in external if domain_allowed(policy, e))
    return sorted(members), allowed, sorted(external - set(allowed))


def _enqueue(run: ReportRun, variant: str, recipients: list[str]) -> ReportDelivery:
    delivery = ReportDelivery.objects.create(
        tenant=run.tenant, run=run, variant=variant, recipients=recipients
    )
    message = outbox_enqueue(
        tenant=run.tenant, kind=KIND, idempotency_key=f"report-delivery:{delivery.public_id}",
        recipients=recipients, subject=f"{run.title} — {run.tenant.name}", body=delivery.public_id,
    )  # fmt: skip
    delivery.outbox = message
    delivery.save(update_fields=["outbox"])
    return delivery


def report_deliveries_enqueue(
    *, run: ReportRun, members: list[str], external: list[str]
) -> list[ReportDelivery]:
    """One e-mail of the full report to the members; one redacted e-mail per external address (an outsider
    never sees who else received it). Sent after commit by the outbox."""
    deliveries = []
    with transaction.atomic():
        if members:
            deliveries.append(_enqueue(run, "full", members))
        for address in external:
            deliveries.append(_enqueue(run, "redacted", [address]))
    return deliveries


def _message(delivery: ReportDelivery) -> EmailMultiAlternatives:
    run = delivery.run
    files = list(run.files.filter(variant=delivery.variant))
    html = next((f for f in files if f.format == "html"), None)
    context = {"run": run, "delivery": delivery, "files": files, "redacted": delivery.variant == "redacted",
               "archive_path": reverse("reports:archive")}  # fmt: skip
    text = render_to_string("reports/email/report.txt", context)
    domain = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].strip(" >") or "cavra.local"
    message = EmailMultiAlternatives(
        subject=delivery.outbox.payload.get("subject", run.title), body=text, from_email=settings.DEFAULT_FROM_EMAIL,
        to=delivery.recipients,
        # The same Message-ID on every attempt: a receiver that got a retried message once can drop the copy.
        headers={"Message-ID": f"<{delivery.public_id}.{run.public_id}@{domain}>",
                 "X-CAVRA-Report": run.public_id, "X-CAVRA-Report-Manifest-SHA256": run.manifest_sha256},
    )  # fmt: skip
    message.attach_alternative(
        bytes(html.content).decode("utf-8")
        if html
        else render_to_string("reports/email/report.html", context),
        "text/html",
    )
    for f in files:
        if f.format != "html":
            message.attach(f.name, bytes(f.content), f.content_type.split(";")[0])
    return message


def _delivered(delivery: ReportDelivery, message_id: str, attempts: int) -> None:
    delivery.status, delivery.delivered_at, delivery.message_id = (
        ReportDelivery.Status.DELIVERED,
        timezone.now(),
        message_id,
    )
    delivery.last_error = ""
    delivery.save(update_fields=["status", "delivered_at", "message_id", "last_error"])
    evidence_append(
        tenant=delivery.tenant, kind=kinds.REPORT_DELIVERED, subject=delivery.public_id,
        payload={"delivery": delivery.public_id, "report": delivery.run.public_id, "variant": delivery.variant,
                 "manifest_sha256": delivery.run.manifest_sha256, "recipients": delivery.recipients,
                 "message_id": message_id, "attempts": attempts, "outcome": "delivered"},
    )  # fmt: skip


def _escalate(delivery: ReportDelivery) -> None:
    """Tell the tenant admins and open a posture finding: a report nobody receives must not fail quietly."""
    evidence_append(
        tenant=delivery.tenant, kind=kinds.REPORT_DELIVERY_FAILED, subject=delivery.public_id,
        payload={"delivery": delivery.public_id, "report": delivery.run.public_id, "variant": delivery.variant,
                 "manifest_sha256": delivery.run.manifest_sha256, "recipients": delivery.recipients,
                 "failures": delivery.failures, "error": delivery.last_error, "outcome": "escalated"},
    )  # fmt: skip
    admins = [m.user.email for m in members_with_role(tenant=delivery.tenant, role=Role.TENANT_ADMIN)]
    outbox_enqueue(
        tenant=delivery.tenant, kind="email.report_delivery_failed",
        idempotency_key=f"report-delivery-escalated:{delivery.public_id}", recipients=admins,
        subject=f"Report delivery failing: {delivery.run.title}",
        body=(f"The {delivery.run.title} ({delivery.run.public_id}) could not be delivered to "
              f"{', '.join(delivery.recipients)} after {delivery.failures} attempts.\n"
              f"Last error: {delivery.last_error}\nThe outbox keeps retrying with backoff; a posture finding "
              "was opened."),
    )  # fmt: skip
    findings_refresh(tenant=delivery.tenant, check_ids={DELIVERY_CHECK_ID})


def report_email_transport(message: OutboxMessage) -> None:
    """The outbox transport of the `report` channel: send, or record the failure and raise for a retry."""
    delivery = ReportDelivery.objects.select_related("run", "tenant", "outbox").get(outbox=message)
    attempt = message.attempts + 1
    try:
        email = _message(delivery)
        email.send(fail_silently=False)
    except Exception as exc:
        delivery.failures += 1
        delivery.last_error = redact(f"{type(exc).__name__}: {exc}")
        escalate = delivery.failures == escalate_after()
        if attempt >= MAX_ATTEMPTS:
            delivery.status = ReportDelivery.Status.FAILED
        elif escalate:
            delivery.status = ReportDelivery.Status.ESCALATED
        delivery.save(update_fields=["failures", "last_error", "status"])
        if escalate:
            _escalate(delivery)
        raise
    _delivered(delivery, email.extra_headers["Message-ID"], attempt)
