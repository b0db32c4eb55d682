"""Time-driven transitions: expiring unanswered requests and escalating slow ones."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from approvals.models import (
    ApprovalRequest,
)
from approvals.services.state import (
    ESCALATE_FRACTION,
    USABLE,
    S,
    _evidence,
    _hhmm,
    _iso,
    _locked,
    _notify_holders,
    _notify_owner,
    _transition,
)


def approval_request_expire(*, approval_id: int) -> ApprovalRequest | None:
    """Expire a request whose time is up (idempotent; does nothing to one that is not overdue)."""
    with transaction.atomic():
        try:
            approval = _locked(approval_id)
        except ApprovalRequest.DoesNotExist:
            return None
        if approval.status in (S.PENDING, *USABLE) and approval.is_overdue:
            was_pending = approval.status == S.PENDING
            _transition(approval, S.EXPIRED)
            if was_pending:
                _notify_owner(approval, "expired")
    return approval


def approval_request_escalate(*, approval_id: int) -> ApprovalRequest | None:
    """Tell whoever receives escalations about a request nearing expiry unanswered (once per request)."""
    with transaction.atomic():
        try:
            approval = _locked(approval_id)
        except ApprovalRequest.DoesNotExist:
            return None
        now = timezone.now()
        window = (approval.expires_at - approval.requested_at) * ESCALATE_FRACTION
        if approval.status != S.PENDING or approval.escalated_at or approval.is_overdue:
            return approval
        if approval.expires_at - now > window:
            return approval
        approval.escalated_at = now
        approval.save(update_fields=["escalated_at"])
        _evidence(approval, "escalated", expires_at=_iso(approval.expires_at))
        _notify_holders(
            approval,
            "escalated",
            "approvals.receive_escalations",
            subject=f"[CAVRA] Unanswered approval expires soon: {approval.agent.name if approval.agent_id else approval.target[:120]} {approval.action}",
            body=f"Nobody has decided this request and it expires at {_hhmm(approval.expires_at)}.",
        )
    return approval
