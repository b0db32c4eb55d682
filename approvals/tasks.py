"""Celery tasks for approvals (the outbox's are in core.outbox): each takes ids (or nothing, for beat sweeps) and calls a service."""

from __future__ import annotations

from celery import shared_task
from django.db.models import DurationField, ExpressionWrapper, F
from django.utils import timezone

from approvals.models import ApprovalRequest

# Beat entries are rows created by migration 0002_beat_schedule (django-celery-beat's DatabaseScheduler),
# so the schedule ships with the code and does not depend on anything in settings.
EXPIRE_TASK = "approvals.expire_due"
ESCALATE_TASK = "approvals.escalate_due"


@shared_task(name="approvals.expire")
def approval_expire(approval_id: int) -> None:
    from approvals.services import approval_request_expire

    approval_request_expire(approval_id=approval_id)


def _each_due(qs, tenant_id: int | None, action) -> int:
    """`action(approval_id=)` on up to 1,000 due requests (of one tenant, if given), soonest first, each
    in its own transaction; the count it ran on."""
    if tenant_id is not None:
        qs = qs.filter(tenant_id=tenant_id)
    ids = list(qs.order_by("expires_at").values_list("pk", flat=True)[:1000])
    for approval_id in ids:
        action(approval_id=approval_id)
    return len(ids)


@shared_task(name=EXPIRE_TASK)
def approvals_expire_due(tenant_id: int | None = None) -> int:
    """Expire every pending or unused approval whose time is up (each in its own transaction)."""
    from approvals.services import USABLE, approval_request_expire

    qs = ApprovalRequest.objects.filter(
        status__in=[ApprovalRequest.Status.PENDING, *USABLE], expires_at__lte=timezone.now()
    )
    return _each_due(qs, tenant_id, approval_request_expire)


@shared_task(name=ESCALATE_TASK)
def approvals_escalate_due(tenant_id: int | None = None) -> int:
    """Escalate pending requests with less than a quarter of their TTL left and no answer yet."""
    from approvals.services import ESCALATE_FRACTION, approval_request_escalate

    now = timezone.now()
    qs = (
        ApprovalRequest.objects.filter(
            status=ApprovalRequest.Status.PENDING, escalated_at__isnull=True, expires_at__gt=now
        )
        .alias(
            window=ExpressionWrapper(
                (F("expires_at") - F("requested_at")) * ESCALATE_FRACTION, output_field=DurationField()
            )
        )
        .filter(expires_at__lte=now + F("window"))
    )
    return _each_due(qs, tenant_id, approval_request_escalate)
