"""Reviewing a pending request: approve or deny, counted towards the routing rule's quorum."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from approvals.models import (
    ApprovalRequest,
    Review,
)
from approvals.services.expiry import approval_request_expire
from approvals.services.state import (
    ApprovalNotAllowed,
    ApprovalStateError,
    S,
    _evidence,
    _locked,
    _notify_owner,
    _transition,
    reviewer_refusal,
)
from approvals.subjects import subject_type
from core.timezones import reader_time
from tenants.models import User


def _refuse_if_not_pending(approval: ApprovalRequest, verb: str) -> None:
    """Refuse a late or stale answer, saying when the request really ended (in the reader's time zone).

    An expiry is stated at `expires_at`: the moment the beat task (or this check) records it is not
    when the request expired.
    """
    if approval.status == S.PENDING and approval.is_overdue:
        _transition(approval, S.EXPIRED)
        _notify_owner(approval, "expired")
    if approval.status == S.EXPIRED:
        raise ApprovalStateError(
            f"This request expired at {reader_time(approval.expires_at)}; your {verb} was not recorded.",
            approval=approval,
        )
    if approval.status != S.PENDING:
        by = f" by {approval.decided_by.email}" if approval.decided_by_id else ""
        when = approval.decided_at or approval.updated_at
        status = approval.get_status_display().lower()
        raise ApprovalStateError(
            f"This request was already {status}{by} at {reader_time(when)}; your {verb} was not recorded.",
            approval=approval,
        )


def approval_request_review(
    *, approval: ApprovalRequest, actor: User, verdict: str, reason: str = ""
) -> ApprovalRequest:
    """Record one reviewer's approve or deny; reaching the quorum approves, a deny ends it (by default)."""
    if verdict not in (Review.Verdict.APPROVE, Review.Verdict.DENY):
        raise ValidationError({"verdict": "Choose approve or deny."})
    reason = (reason or "").strip()
    verb = "approval" if verdict == Review.Verdict.APPROVE else "denial"
    if approval.is_overdue:
        # Settled in its own transaction, so the refusal below does not roll the expiry back.
        approval_request_expire(approval_id=approval.pk)
    with transaction.atomic():
        approval = _locked(approval)
        refusal = reviewer_refusal(approval, actor)
        if refusal:
            raise ApprovalNotAllowed(refusal)
        _refuse_if_not_pending(approval, verb)
        if approval.reason_required and not reason:
            raise ValidationError({"reason": f"A reason is required to {verdict} this request."})
        if Review.objects.filter(request=approval, reviewer=actor).exists():
            raise ApprovalNotAllowed(
                "You have already reviewed this request; the same person never counts twice toward a quorum."
            )
        Review.objects.create(
            tenant=approval.tenant, request=approval, reviewer=actor, verdict=verdict, reason=reason
        )
        counts = {Review.Verdict.APPROVE: 0, Review.Verdict.DENY: 0}
        for v in Review.objects.filter(request=approval).values_list("verdict", flat=True):
            counts[v] = counts.get(v, 0) + 1
        outcome = None
        if verdict == Review.Verdict.DENY and (
            approval.deny_ends or counts[Review.Verdict.DENY] >= approval.quorum
        ):
            outcome = S.DENIED
        elif verdict == Review.Verdict.APPROVE and counts[Review.Verdict.APPROVE] >= approval.quorum:
            outcome = S.APPROVED
        if outcome is None:
            approval.updated_at = timezone.now()
            approval.save(update_fields=["updated_at"])
            _evidence(
                approval,
                "review_recorded",
                actor=actor,
                verdict=verdict,
                reason=reason,
                approvals=counts[Review.Verdict.APPROVE],
                denials=counts[Review.Verdict.DENY],
                quorum=approval.quorum,
            )
            return approval
        approval.decided_at = timezone.now()
        approval.decided_by = actor
        approval.decision_reason = reason
        _transition(
            approval,
            outcome,
            actor=actor,
            reason=reason,
            approvals=counts[Review.Verdict.APPROVE],
            denials=counts[Review.Verdict.DENY],
            quorum=approval.quorum,
            reviewers=sorted(
                Review.objects.filter(request=approval).values_list("reviewer__email", flat=True)
            ),
        )
        if approval.subject_type != ApprovalRequest.AGENT_ACTION:
            # The subject's own app acts on the outcome in this transaction (e.g. publishes a policy);
            # if it refuses, the review is not recorded either.
            handler = subject_type(approval.subject_type)
            if handler is None:
                raise ApprovalStateError(
                    f"No handler is registered for {approval.subject_type} requests.", approval=approval
                )
            if outcome == S.APPROVED:
                handler.on_approved(approval=approval, actor=actor)
            elif handler.on_denied is not None:
                handler.on_denied(approval=approval, actor=actor)
        _notify_owner(approval, outcome)
    return approval


def approval_request_approve(*, approval: ApprovalRequest, actor: User, reason: str = "") -> ApprovalRequest:
    return approval_request_review(
        approval=approval, actor=actor, verdict=Review.Verdict.APPROVE, reason=reason
    )


def approval_request_deny(*, approval: ApprovalRequest, actor: User, reason: str = "") -> ApprovalRequest:
    return approval_request_review(approval=approval, actor=actor, verdict=Review.Verdict.DENY, reason=reason)
