"""The approval state machine and the helpers every approval write shares: transitions under a row lock, evidence, reviewer eligibility, owner notifications."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from approvals.models import (
    ApprovalRequest,
    BreakGlassGrant,
    ReviewerRepositoryGrant,
)
from approvals.routing import repository_grant_matches, user_repository_globs
from core.authz import can, is_member
from core.outbox import outbox_enqueue
from evidence.services import evidence_append
from tenants.models import Tenant, User
from tenants.selectors import members_with_capability, members_with_role

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
        "agent": approval.agent.public_id if approval.agent_id else None,
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
    if approval.subject_type != ApprovalRequest.AGENT_ACTION:
        payload["subject_type"] = approval.subject_type
        payload["subject"] = approval.subject_ref
        payload["requested_by"] = approval.requested_by.email if approval.requested_by_id else None
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


_RELATED = ("tenant", "agent", "agent__owner", "session", "decision", "decided_by", "requested_by")


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
    if approval.agent_id is None:
        who = approval.requested_by.email if approval.requested_by_id else "the portal"
        return (
            f"Requested by: {who}\n"
            f"Change: {approval.target}\n"
            f"Reason: {approval.reason}\n"
            f"Expires: {_hhmm(approval.expires_at)}\n"
            f"Open: {approval_url(approval)}\n"
        )
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
    owner_id = approval.agent.owner_id if approval.agent_id else None
    if owner_id and not approval.tenant.allow_self_approval:
        members = [u for u in members if u.pk != owner_id]
    if approval.requested_by_id:
        members = [u for u in members if u.pk != approval.requested_by_id]
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
    if not can(user, tenant, "approvals.review", obj=approval):  # the role it was routed to
        return (
            f"Only members with the {approval.get_reviewer_role_display()} role may decide this request "
            f"(routed to {approval.get_group_display()})."
        )
    if approval.repository_limited and approval.repository:
        if not repository_grant_matches(user_repository_globs(tenant=tenant, user=user), approval.repository):
            return f"You are not a reviewer for repository {approval.repository}."
    if approval.requested_by_id is not None and approval.requested_by_id == user.pk:
        # Four eyes, always: the tenant's self-approval setting is about agents, not about people's own changes.
        return "You requested this change; another reviewer must decide it."
    if approval.agent_id and approval.agent.owner_id == user.pk and not tenant.allow_self_approval:
        return "You own this agent; another reviewer must decide its requests."
    return None


def may_break_glass(user, tenant: Tenant) -> bool:
    if can(user, tenant, "approvals.break_glass"):
        return True
    return is_member(user, tenant) and BreakGlassGrant.objects.filter(tenant=tenant, user=user).exists()


def _notify_owner(approval: ApprovalRequest, what: str) -> None:
    owner = approval.agent.owner if approval.agent_id else approval.requested_by
    if owner is None or not owner.is_active:
        return
    who = approval.decided_by.email if approval.decided_by_id else "the portal"
    verb = what.replace("_", "-")
    if approval.agent_id is None:
        subject = f"[CAVRA] Your request was {verb}: {approval.target[:120]}"
        opening = f"Your request was {verb} by {who}."
    else:
        subject = f"[CAVRA] {approval.agent.name}: {approval.action} {verb}"
        opening = f"The request of your agent {approval.agent.name} was {verb} by {who}."
    outbox_enqueue(
        tenant=approval.tenant,
        kind=f"email.approval_{what}",
        idempotency_key=f"approval:{approval.public_id}:{what}:owner",
        recipients=[owner.email],
        subject=subject,
        body=f"{opening}\nReason given: {approval.decision_reason or '-'}\n\n" + _describe(approval),
    )


def _notify_holders(
    approval: ApprovalRequest, event: str, capability: str, *, subject: str, body: str
) -> None:
    """E-mail the members holding `capability` about `approval`, once per request and event (outbox)."""
    outbox_enqueue(
        tenant=approval.tenant,
        kind=f"email.approval_{event}",
        idempotency_key=f"approval:{approval.public_id}:{event}",
        recipients=_emails(members_with_capability(tenant=approval.tenant, capability=capability)),
        subject=subject,
        body=body + "\n\n" + _describe(approval),
    )


def _notify_opened(approval: ApprovalRequest, *, subject: str, body: str, exclude: str = "") -> None:
    """Tell the routed reviewers; when nobody can decide it as routed, whoever receives escalations
    (rather than let it expire silently). `exclude`: an address never told (the requester)."""
    recipients = [u.email for u in approval_eligible_reviewers(approval)]
    if not recipients:
        recipients = _emails(
            members_with_capability(tenant=approval.tenant, capability="approvals.receive_escalations")
        )
    outbox_enqueue(
        tenant=approval.tenant,
        kind="email.approval_opened",
        idempotency_key=f"approval:{approval.public_id}:opened",
        recipients=[r for r in recipients if r != exclude],
        subject=subject,
        body=body + "\n\n" + _describe(approval),
    )
