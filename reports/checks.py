"""The posture check reports add to AISPM: a report delivery that keeps failing is a finding."""

from __future__ import annotations

from django.urls import reverse

from aispm.checks import CheckContext, Hit, check
from cavra_engine.surfaces import GENERAL_POLICY
from reports.models import ReportDelivery

DELIVERY_CHECK_ID = "report.delivery_failing"


@check(
    DELIVERY_CHECK_ID,
    "A scheduled report is not reaching its recipients",
    surface=GENERAL_POLICY,
    severity="high",
    remediation="Check the SMTP settings (EMAIL_HOST, EMAIL_PORT, TLS, credentials) and the recipients; "
    "the outbox keeps retrying, and the finding resolves once the report is delivered.",
)
def delivery_failing(ctx: CheckContext) -> list[Hit]:
    failing = ReportDelivery.objects.filter(
        tenant=ctx.tenant, status__in=(ReportDelivery.Status.ESCALATED, ReportDelivery.Status.FAILED)
    ).select_related("run")
    return [
        Hit(subject_key=f"report_delivery:{d.public_id}",
            detail=f"{d.run.title} ({d.run.public_id}) to {len(d.recipients)} recipient(s): {d.failures} "
                   f"failed attempt(s); last error: {d.last_error}",
            objects=[{"type": "report", "id": d.run.public_id, "label": d.run.title,
                      "url": reverse("reports:report", kwargs={"report_id": d.run.public_id})}])
        for d in failing
    ]  # fmt: skip
