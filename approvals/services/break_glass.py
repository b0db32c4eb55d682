"""Break-glass overrides, cancellation, and the after-the-fact review every override needs."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from approvals.models import (
    ApprovalRequest,
    BreakGlassReview,
    Review,
)
from approvals.services.expiry import approval_request_expire
from approvals.services.state import (
    BREAK_GLASS_REVIEW_DUE,
    LEGAL_TRANSITIONS,
    MIN_JUSTIFICATION,
    ApprovalNotAllowed,
    ApprovalStateError,
    S,
    _evidence,
    _hhmm,
    _iso,
    _locked,
    _notify_holders,
    _notify_owner,
    _transition,
    may_break_glass,
)
from core.authz import can
from core.timezones import reader_time
from tenants.models import User


def approval_request_break_glass(
    *, approval: ApprovalRequest, actor: User, justification: str
) -> ApprovalRequest:
    """Allow the action now, without review; flagged, notified, and followed by a mandatory review task."""
    justification = (justification or "").strip()
    if approval.is_overdue and may_break_glass(actor, approval.tenant):
        approval_request_expire(approval_id=approval.pk)  # settled even though the break-glass is refused
    with transaction.atomic():
        approval = _locked(approval)
        if not may_break_glass(actor, approval.tenant):
            raise ApprovalNotAllowed("Only tenant admins and members granted break-glass may break glass.")
        if approval.agent_id is None:
            raise ApprovalNotAllowed(
                "Break-glass is for agent actions; a change request needs its reviewers."
            )
        if len(justification) < MIN_JUSTIFICATION:
            raise ValidationError(
                {
                    "justification": f"Break-glass needs a justification of at least {MIN_JUSTIFICATION} characters."
                }
            )
        if approval.status == S.PENDING and approval.is_overdue:
            _transition(approval, S.EXPIRED)
        if approval.status == S.EXPIRED:
            raise ApprovalStateError(
                f"This request expired at {reader_time(approval.expires_at)}; break-glass is possible only "
                "for a pending or denied request. The agent must ask again.",
                approval=approval,
            )
        if S.BREAK_GLASS not in LEGAL_TRANSITIONS[approval.status]:
            raise ApprovalStateError(
                f"Break-glass is possible only for a pending or denied request; this one is "
                f"{approval.get_status_display().lower()}.",
                approval=approval,
            )
        now = timezone.now()
        ttl = approval.expires_at - approval.requested_at
        approval.is_break_glass = True
        approval.decided_at = now
        approval.decided_by = actor
        approval.decision_reason = justification
        approval.expires_at = max(approval.expires_at, now + ttl)
        Review.objects.update_or_create(
            request=approval,
            reviewer=actor,
            defaults={
                "tenant": approval.tenant,
                "verdict": Review.Verdict.BREAK_GLASS,
                "reason": justification,
            },
        )
        review = BreakGlassReview.objects.create(
            tenant=approval.tenant,
            request=approval,
            invoked_by=actor,
            justification=justification,
            due_at=now + BREAK_GLASS_REVIEW_DUE,
        )
        _transition(
            approval, S.BREAK_GLASS, actor=actor, justification=justification, review_due=_iso(review.due_at)
        )
        _notify_holders(
            approval,
            "break_glass",
            "approvals.receive_break_glass",
            subject=f"[CAVRA] BREAK-GLASS by {actor.email}: {approval.agent.name} {approval.action}",
            body=(
                f"{actor.email} broke glass and allowed this action without review.\n"
                f"Justification: {justification}\n"
                f"A post-hoc review is due by {_hhmm(review.due_at)}."
            ),
        )
        _notify_owner(approval, "break_glass")
    return approval


def approval_request_cancel(*, approval: ApprovalRequest, actor: User, reason: str = "") -> ApprovalRequest:
    """Withdraw a pending or unused approval (tenant admins, or the agent's owner)."""
    with transaction.atomic():
        approval = _locked(approval)
        if not can(actor, approval.tenant, "approvals.cancel", obj=approval):
            raise ApprovalNotAllowed(
                "Only tenant admins and the requester (or agent owner) may cancel a request."
            )
        approval.decided_at = approval.decided_at or timezone.now()
        approval.decision_reason = approval.decision_reason or (reason or "").strip()
        _transition(approval, S.CANCELLED, actor=actor, reason=(reason or "").strip())
    return approval


def break_glass_review_close(*, review: BreakGlassReview, actor: User, notes: str) -> BreakGlassReview:
    """Close the post-hoc review of a break-glass use (tenant admins, compliance officers, auditors)."""
    notes = (notes or "").strip()
    if not notes:
        raise ValidationError({"notes": "Write what the review found."})
    with transaction.atomic():
        review = (
            BreakGlassReview.objects.select_for_update(of=("self",))
            .select_related("request", "request__agent")
            .get(pk=review.pk)
        )
        if not can(actor, review.tenant, "approvals.review_break_glass"):
            raise ApprovalNotAllowed(
                "Only tenant admins, compliance officers and auditors close these reviews."
            )
        if review.invoked_by_id == actor.pk:
            raise ApprovalNotAllowed("The person who broke glass cannot review their own use of it.")
        if review.status == BreakGlassReview.Status.CLOSED:
            raise ApprovalStateError("This review is already closed.")
        review.status = BreakGlassReview.Status.CLOSED
        review.reviewed_by = actor
        review.review_notes = notes
        review.closed_at = timezone.now()
        review.save()
        _evidence(review.request, "break_glass_reviewed", actor=actor, notes=notes)
    return review
