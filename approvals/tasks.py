"""Celery tasks for approvals and the outbox: each takes ids (or nothing, for beat sweeps) and calls a service."""

from __future__ import annotations

from celery import shared_task
from django.db.models import DurationField, ExpressionWrapper, F
from django.utils import timezone

from approvals.models import ApprovalRequest
from approvals.outbox import outbox_deliver_due, outbox_message_deliver

# Beat entries are rows created by migration 0002_beat_schedule (django-celery-beat's DatabaseScheduler),
# so the schedule ships with the code and does not depend on anything in settings.
EXPIRE_TASK = "approvals.expire_due"
ESCALATE_TASK = "approvals.escalate_due"
OUTBOX_SWEEP_TASK = "approvals.outbox_deliver_due"


@shared_task(name="approvals.outbox_deliver", acks_late=True)
def outbox_deliver(message_id: int) -> str:
    message = outbox_message_deliver(message_id=message_id)
    return message.status if message is not None else "missing"


@shared_task(name=OUTBOX_SWEEP_TASK)
def outbox_deliver_due_task() -> int:
    return outbox_deliver_due()


@shared_task(name="approvals.expire")
def approval_expire(approval_id: int) -> None:
    from approvals.services import approval_request_expire

    approval_request_expire(approval_id=approval_id)


@shared_task(name=EXPIRE_TASK)
def approvals_expire_due(tenant_id: int | None = None) -> int:
    """Expire every pending or unused approval whose time is up (each in its own transaction)."""
    from approvals.services import USABLE, approval_request_expire

    qs = ApprovalRequest.objects.filter(
        status__in=[ApprovalRequest.Status.PENDING, *USABLE], expires_at__lte=timezone.now()
    )
    if tenant_id is not None:
        qs = qs.filter(tenant_id=tenant_id)
    ids = list(qs.order_by("expires_at").values_list("pk", flat=True)[:1000])
    for approval_id in ids:
        approval_request_expire(approval_id=approval_id)
    return len(ids)


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
    if tenant_id is not None:
        qs = qs.filter(tenant_id=tenant_id)
    ids = list(qs.order_by("expires_at").values_list("pk", flat=True)[:1000])
    for approval_id in ids:
        approval_request_escalate(approval_id=approval_id)
    return len(ids)
