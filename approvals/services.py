"""Writes for approvals: open, review (approve/deny with quorum), break-glass, cancel, expire, escalate, consume.

Every state change goes through `_transition`, which refuses illegal moves, and runs under a row
lock (SELECT ... FOR UPDATE) in a transaction that also appends the evidence record, so two
reviewers acting at the same moment produce exactly one outcome. Notifications are outbox rows in
the same transaction, delivered after commit.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from approvals.models import (
    SEVERITY_RANK,
    ApprovalRequest,
    BreakGlassGrant,
    BreakGlassReview,
    Review,
    ReviewerRepositoryGrant,
)
from approvals.outbox import outbox_enqueue
from approvals.routing import RouteFacts, repository_grant_matches, route, user_repository_globs
from evidence.services import evidence_append
from tenants.models import Tenant, User
from tenants.permissions import has_role
from tenants.roles import Role
from tenants.selectors import members_with_role

S = ApprovalRequest.Status

# The whole state machine: anything not listed here is refused.
LEGAL_TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING: frozenset({S.APPROVED, S.DENIED, S.EXPIRED, S.CANCELLED, S.BREAK_GLASS}),
    S.APPROVED: frozenset({S.CONSUMED, S.EXPIRED, S.CANCELLED}),
    S.BREAK_GLASS: frozenset({S.CONSUMED, S.EXPIRED, S.CANCELLED}),
    # Break-glass may override a denial: that is what an emergency override is for, and it is flagged.
    S.DENIED: frozenset({S.BREAK_GLASS}),
    S.EXPIRED: frozenset(),
    S.CANCELLED: frozenset(),
    S.CONSUMED: frozenset(),
}
USABLE = frozenset({S.APPROVED, S.BREAK_GLASS})
BREAK_GLASS_REVIEW_DUE = timedelta(hours=72)
ESCALATE_FRACTION = 0.25  # escalate when a quarter of the TTL is left unanswered
MIN_JUSTIFICATION = 10


class ApprovalStateError(Exception):
    """The request is not in a state that allows this (already decided, expired, illegal move)."""

    def __init__(self, message: str, *, approval: ApprovalRequest | None = None):
        super().__init__(message)
        self.message = message
        self.approval = approval


class ApprovalNotAllowed(PermissionDenied):
    """This person may not act on this request (role, repository grant, own agent, already counted)."""


@dataclass(frozen=True)
class ApprovalCheck:
    ok: bool
    reason: str
    approval: ApprovalRequest | None = None


# --- helpers --------------------------------------------------------------------------------------


def _iso(moment) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _hhmm(moment) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def approval_url(approval: ApprovalRequest) -> str:
    base = getattr(settings, "PORTAL_BASE_URL", "").rstrip("/")
    return base + reverse("approvals:detail", kwargs={"public_id": approval.public_id})


def _evidence(approval: ApprovalRequest, kind: str, *, actor=None, **extra) -> None:
    payload = {
        "approval": approval.public_id,
        "agent": approval.agent.public_id,
        "session": approval.session.public_id if approval.session_id else None,
        "decision_id": approval.decision.public_id if approval.decision_id else None,
        "repository": approval.repository or None,
        "environment": approval.environment or None,
        "action": approval.action,
        "action_digest": approval.action_digest,
        "rule_id": approval.rule_id,
        "status": approval.status,
        "break_glass": approval.is_break_glass,
    }
    payload.update(extra)
    evidence_append(
        tenant=approval.tenant,
        kind=f"approval.{kind}",
        subject=approval.public_id,
        payload=payload,
        actor=actor,
    )


def _transition(approval: ApprovalRequest, to: str, *, actor=None, kind: str | None = None, **extra) -> None:
    """Move a locked request to `to`, or refuse; writes the evidence record for the move."""
    current = approval.status
    if to not in LEGAL_TRANSITIONS.get(current, frozenset()):
        raise ApprovalStateError(
            f"A {current.replace('_', '-')} request cannot become {to.replace('_', '-')}.", approval=approval
        )
    approval.status = to
    approval.updated_at = timezone.now()
    approval.save()
    _evidence(approval, kind or to, actor=actor, previous_status=current, **extra)


_RELATED = ("tenant", "agent", "agent__owner", "session", "decision", "decided_by")


def _locked(approval: ApprovalRequest | int) -> ApprovalRequest:
    """Lock the row, then read it fresh. Two statements on purpose: after waiting for a lock, PostgreSQL
    re-checks only the locked row, so columns joined in the same SELECT could be from before the wait."""
    pk = approval.pk if isinstance(approval, ApprovalRequest) else approval
    list(ApprovalRequest.objects.select_for_update().filter(pk=pk).values_list("pk", flat=True))
    return ApprovalRequest.objects.select_related(*_RELATED).get(pk=pk)


def _describe(approval: ApprovalRequest) -> str:
    where = approval.repository or "no repository"
    if approval.environment:
        where += f" ({approval.environment})"
    return (
        f"Agent: {approval.agent.name} ({approval.agent.public_id})\n"
        f"Action: {approval.action}\n"
        f"Target: {approval.target}\n"
        f"Where: {where}\n"
        f"Rule: {approval.rule_id} [{approval.severity}]\n"
        f"Reason: {approval.reason}\n"
        f"Expires: {_hhmm(approval.expires_at)}\n"
        f"Open: {approval_url(approval)}\n"
    )


def _emails(memberships) -> list[str]:
    return [m.user.email for m in memberships if m.user.is_active]


def approval_eligible_reviewers(approval: ApprovalRequest) -> list[User]:
    """Everyone who could decide this request right now (before counting who already has)."""
    members = [m.user for m in members_with_role(tenant=approval.tenant, role=approval.reviewer_role)]
    owner_id = approval.agent.owner_id
    if owner_id and not approval.tenant.allow_self_approval:
        members = [u for u in members if u.pk != owner_id]
    if approval.repository_limited and approval.repository:
        grants: dict[int, list[str]] = {}
        for user_id, glob in ReviewerRepositoryGrant.objects.filter(tenant=approval.tenant).values_list(
            "user_id", "repository_glob"
        ):
            grants.setdefault(user_id, []).append(glob)
        members = [u for u in members if repository_grant_matches(grants.get(u.pk, []), approval.repository)]
    return [u for u in members if u.is_active]


def reviewer_refusal(approval: ApprovalRequest, user) -> str | None:
    """Why `user` may not approve or deny this request, or None when they may (state aside)."""
    tenant = approval.tenant
    if not has_role(user, tenant, approval.reviewer_role):
        return (
            f"Only members with the {approval.get_reviewer_role_display()} role may decide this request "
            f"(routed to {approval.get_group_display()})."
        )
    if approval.repository_limited and approval.repository:
        if not repository_grant_matches(user_repository_globs(tenant=tenant, user=user), approval.repository):
            return f"You are not a reviewer for repository {approval.repository}."
    if approval.agent.owner_id == user.pk and not tenant.allow_self_approval:
        return "You own this agent; another reviewer must decide its requests."
    return None


def may_break_glass(user, tenant: Tenant) -> bool:
    if has_role(user, tenant, Role.TENANT_ADMIN):
        return True
    return has_role(user, tenant) and BreakGlassGrant.objects.filter(tenant=tenant, user=user).exists()


def _notify_owner(approval: ApprovalRequest, what: str) -> None:
    owner = approval.agent.owner
    if owner is None or not owner.is_active:
        return
    who = approval.decided_by.email if approval.decided_by_id else "the portal"
    outbox_enqueue(
        tenant=approval.tenant,
        kind=f"email.approval_{what}",
        idempotency_key=f"approval:{approval.public_id}:{what}:owner",
        recipients=[owner.email],
        subject=f"[CAVRA] {approval.agent.name}: {approval.action} {what.replace('_', '-')}",
        body=(
            f"The request of your agent {approval.agent.name} was {what.replace('_', '-')} by {who}.\n"
            f"Reason given: {approval.decision_reason or '-'}\n\n" + _describe(approval)
        ),
    )


# --- open -----------------------------------------------------------------------------------------


def approval_request_open(
    *,
    tenant: Tenant,
    agent,
    decision=None,
    action_digest: str,
    action: str,
    target: str,
    repository: str | None,
    environment: str | None,
    rule_id: str,
    severity: str,
    reason: str,
    policy_pack: str,
    policy_digest: str,
    approvers_hint: list[str] | None = None,
    session=None,
) -> ApprovalRequest:
    """Open a pending request for one exact action, routed by the tenant's rules; notify its reviewers."""
    if agent.tenant_id != tenant.pk:
        raise ValidationError({"agent": "The agent belongs to another tenant."})
    severity = severity if severity in SEVERITY_RANK else "medium"
    facts = RouteFacts(
        rule_id=rule_id or "",
        action=action,
        severity=severity,
        repository=repository or "",
        environment=environment or "",
        policy_pack=policy_pack or "",
        target=target or "",
    )
    rule = route(tenant=tenant, facts=facts)
    now = timezone.now()
    with transaction.atomic():
        approval = ApprovalRequest.objects.create(
            tenant=tenant,
            agent=agent,
            decision=decision,
            session=session,
            action_digest=action_digest,
            action=action,
            target=target,
            repository=repository or "",
            environment=environment or "",
            rule_id=rule_id or "",
            severity=severity,
            severity_rank=SEVERITY_RANK[severity],
            reason=reason or "",
            policy_pack=policy_pack or "",
            policy_digest=policy_digest or "",
            approvers_hint=list(approvers_hint or []),
            routing_rule=rule if rule.pk else None,
            group=rule.group,
            reviewer_role=rule.reviewer_role,
            repository_limited=rule.repository_limited,
            quorum=rule.quorum,
            deny_ends=rule.deny_ends,
            reason_required=rule.reason_required,
            single_use=rule.single_use,
            requested_at=now,
            expires_at=now + timedelta(seconds=rule.ttl_seconds),
            updated_at=now,
        )
        _evidence(
            approval,
            "opened",
            actor=f"agent:{agent.public_id}",
            group=approval.group,
            quorum=approval.quorum,
            routing_rule=rule.name,
            expires_at=_iso(approval.expires_at),
            severity=severity,
            target=target[:2000],
        )
        recipients = [u.email for u in approval_eligible_reviewers(approval)]
        if not recipients:
            # Nobody can decide it as routed: tell the tenant admins rather than let it expire silently.
            recipients = _emails(members_with_role(tenant=tenant, role=Role.TENANT_ADMIN))
        outbox_enqueue(
            tenant=tenant,
            kind="email.approval_opened",
            idempotency_key=f"approval:{approval.public_id}:opened",
            recipients=recipients,
            subject=f"[CAVRA] Approval needed: {agent.name} wants to {action} ({severity})",
            body="An agent is waiting for your decision.\n\n" + _describe(approval),
        )
    return approval


# --- review ---------------------------------------------------------------------------------------


def _refuse_if_not_pending(approval: ApprovalRequest, verb: str) -> None:
    if approval.status == S.PENDING and approval.is_overdue:
        _transition(approval, S.EXPIRED)
        _notify_owner(approval, "expired")
    if approval.status != S.PENDING:
        by = f" by {approval.decided_by.email}" if approval.decided_by_id else ""
        when = approval.decided_at or approval.updated_at
        status = approval.get_status_display().lower()
        raise ApprovalStateError(
            f"This request was already {status}{by} at {_hhmm(when)}; your {verb} was not recorded.",
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
        _notify_owner(approval, outcome)
    return approval


def approval_request_approve(*, approval: ApprovalRequest, actor: User, reason: str = "") -> ApprovalRequest:
    return approval_request_review(
        approval=approval, actor=actor, verdict=Review.Verdict.APPROVE, reason=reason
    )


def approval_request_deny(*, approval: ApprovalRequest, actor: User, reason: str = "") -> ApprovalRequest:
    return approval_request_review(approval=approval, actor=actor, verdict=Review.Verdict.DENY, reason=reason)


# --- break-glass, cancel --------------------------------------------------------------------------


def approval_request_break_glass(
    *, approval: ApprovalRequest, actor: User, justification: str
) -> ApprovalRequest:
    """Allow the action now, without review; flagged, notified, and followed by a mandatory review task."""
    justification = (justification or "").strip()
    with transaction.atomic():
        approval = _locked(approval)
        if not may_break_glass(actor, approval.tenant):
            raise ApprovalNotAllowed("Only tenant admins and members granted break-glass may break glass.")
        if len(justification) < MIN_JUSTIFICATION:
            raise ValidationError(
                {
                    "justification": f"Break-glass needs a justification of at least {MIN_JUSTIFICATION} characters."
                }
            )
        if approval.status == S.PENDING and approval.is_overdue:
            _transition(approval, S.EXPIRED)
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
        people = members_with_role(tenant=approval.tenant, role=Role.TENANT_ADMIN) + members_with_role(
            tenant=approval.tenant, role=Role.SECURITY_REVIEWER
        )
        outbox_enqueue(
            tenant=approval.tenant,
            kind="email.approval_break_glass",
            idempotency_key=f"approval:{approval.public_id}:break_glass",
            recipients=_emails(people),
            subject=f"[CAVRA] BREAK-GLASS by {actor.email}: {approval.agent.name} {approval.action}",
            body=(
                f"{actor.email} broke glass and allowed this action without review.\n"
                f"Justification: {justification}\n"
                f"A post-hoc review is due by {_hhmm(review.due_at)}.\n\n" + _describe(approval)
            ),
        )
        _notify_owner(approval, "break_glass")
    return approval


def approval_request_cancel(*, approval: ApprovalRequest, actor: User, reason: str = "") -> ApprovalRequest:
    """Withdraw a pending or unused approval (tenant admins, or the agent's owner)."""
    with transaction.atomic():
        approval = _locked(approval)
        if not (has_role(actor, approval.tenant, Role.TENANT_ADMIN) or approval.agent.owner_id == actor.pk):
            raise ApprovalNotAllowed("Only tenant admins and the agent's owner may cancel a request.")
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
            BreakGlassReview.objects.select_for_update()
            .select_related("request", "request__agent")
            .get(pk=review.pk)
        )
        if not has_role(actor, review.tenant, Role.TENANT_ADMIN, Role.COMPLIANCE_OFFICER, Role.AUDITOR):
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


# --- time -----------------------------------------------------------------------------------------


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
    """Tell the tenant admins about a request nearing expiry unanswered (once per request)."""
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
        admins = members_with_role(tenant=approval.tenant, role=Role.TENANT_ADMIN)
        outbox_enqueue(
            tenant=approval.tenant,
            kind="email.approval_escalated",
            idempotency_key=f"approval:{approval.public_id}:escalated",
            recipients=_emails(admins),
            subject=f"[CAVRA] Unanswered approval expires soon: {approval.agent.name} {approval.action}",
            body=(
                f"Nobody has decided this request and it expires at {_hhmm(approval.expires_at)}.\n\n"
                + _describe(approval)
            ),
        )
    return approval


# --- use by the decision API ----------------------------------------------------------------------


def approval_check_for_action(
    *, tenant: Tenant, agent, approval_id: str, action_digest: str
) -> ApprovalCheck:
    """May this agent do this exact action on the strength of this approval? Consumes single-use ones."""
    with transaction.atomic():
        pk = (
            ApprovalRequest.objects.select_for_update()
            .filter(tenant=tenant, public_id=str(approval_id or "")[:32])
            .values_list("pk", flat=True)
            .first()
        )
        approval = _locked(pk) if pk is not None else None
        if approval is None:
            return ApprovalCheck(False, f"Approval {approval_id} does not exist in this tenant.", None)
        if approval.agent_id != agent.pk:
            return ApprovalCheck(False, f"Approval {approval_id} was issued to a different agent.", None)
        if not hmac.compare_digest(approval.action_digest, str(action_digest or "")):
            return ApprovalCheck(
                False,
                f"Approval {approval.public_id} covers a different action: the target, repository, environment "
                "or policy version differ from what was approved. Ask for a new approval.",
                approval,
            )
        if approval.status in (S.PENDING, *USABLE) and approval.is_overdue:
            _transition(approval, S.EXPIRED)
            return ApprovalCheck(
                False, f"Approval {approval.public_id} expired at {_hhmm(approval.expires_at)}.", approval
            )
        if approval.status == S.PENDING:
            return ApprovalCheck(False, f"Approval {approval.public_id} is still pending review.", approval)
        if approval.status == S.CONSUMED:
            return ApprovalCheck(
                False, f"Approval {approval.public_id} was single-use and has already been used.", approval
            )
        if approval.status not in USABLE:
            return ApprovalCheck(
                False, f"Approval {approval.public_id} is {approval.get_status_display().lower()}.", approval
            )
        how = "break-glass by" if approval.is_break_glass else "approved by"
        who = approval.decided_by.email if approval.decided_by_id else "a reviewer"
        reason = f"{how} {who}" + (f" ({approval.decision_reason})" if approval.decision_reason else "")
        approval.use_count += 1
        if approval.single_use:
            approval.consumed_at = timezone.now()
            _transition(approval, S.CONSUMED, actor=f"agent:{agent.public_id}", use_count=approval.use_count)
        else:
            approval.updated_at = timezone.now()
            approval.save(update_fields=["use_count", "updated_at"])
            _evidence(approval, "used", actor=f"agent:{agent.public_id}", use_count=approval.use_count)
    return ApprovalCheck(True, reason, approval)


# --- grants ---------------------------------------------------------------------------------------


def reviewer_repository_grant_add(
    *, tenant: Tenant, user: User, repository_glob: str, actor: User | None = None
) -> ReviewerRepositoryGrant:
    glob = (repository_glob or "").strip()
    if not glob:
        raise ValidationError({"repository_glob": "Give a repository or a glob such as acme/*."})
    with transaction.atomic():
        grant, _ = ReviewerRepositoryGrant.objects.get_or_create(
            tenant=tenant, user=user, repository_glob=glob
        )
        evidence_append(
            tenant=tenant,
            kind="approval.reviewer_grant_added",
            subject=f"user:{user.email}",
            payload={"user": user.email, "repository_glob": glob},
            actor=actor,
        )
    return grant


def break_glass_grant_add(*, tenant: Tenant, user: User, actor: User | None = None) -> BreakGlassGrant:
    with transaction.atomic():
        grant, _ = BreakGlassGrant.objects.get_or_create(
            tenant=tenant, user=user, defaults={"granted_by": actor}
        )
        evidence_append(
            tenant=tenant,
            kind="approval.break_glass_grant_added",
            subject=f"user:{user.email}",
            payload={"user": user.email},
            actor=actor,
        )
    return grant
