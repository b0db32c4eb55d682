"""Opening an approval request for a decision that requires one, routed to its reviewers."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from approvals.models import (
    SEVERITY_RANK,
    ApprovalRequest,
)
from approvals.routing import RouteFacts, route
from approvals.services.state import _evidence, _iso, _notify_opened
from core.roles import Role
from tenants.models import Tenant


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
        _notify_opened(
            approval,
            subject=f"[CAVRA] Approval needed: {agent.name} wants to {action} ({severity})",
            body="An agent is waiting for your decision.",
        )
    return approval


def approval_request_open_for_subject(
    *,
    tenant: Tenant,
    subject_type: str,
    subject_ref: str,
    requested_by,
    title: str,
    reason: str,
    severity: str = "high",
    quorum: int = 1,
    reviewer_role: str = Role.SECURITY_REVIEWER,
    ttl: timedelta = timedelta(days=7),
    summary: dict | None = None,
) -> ApprovalRequest:
    """Open a pending request for a registered non-agent subject (e.g. a policy publish); the requester never decides it."""
    from approvals.subjects import subject_type as registered

    if registered(subject_type) is None:
        raise ValidationError({"subject_type": f"No handler is registered for {subject_type} requests."})
    severity = severity if severity in SEVERITY_RANK else "high"
    now = timezone.now()
    digest = hashlib.sha256(f"{subject_type}:{subject_ref}".encode()).hexdigest()
    with transaction.atomic():
        approval = ApprovalRequest.objects.create(
            tenant=tenant,
            agent=None,
            subject_type=subject_type,
            subject_ref=subject_ref,
            requested_by=requested_by,
            summary=summary or {},
            action_digest=digest,
            action=subject_type,
            target=title[:2000],
            rule_id=subject_type,
            severity=severity,
            severity_rank=SEVERITY_RANK[severity],
            reason=reason or "",
            reviewer_role=reviewer_role,
            quorum=max(1, quorum),
            deny_ends=True,
            reason_required=True,
            single_use=True,
            requested_at=now,
            expires_at=now + ttl,
            updated_at=now,
        )
        _evidence(
            approval,
            "opened",
            actor=requested_by,
            quorum=approval.quorum,
            expires_at=_iso(approval.expires_at),
            severity=severity,
            target=title[:2000],
        )
        _notify_opened(
            approval,
            subject=f"[CAVRA] Approval needed: {title[:120]}",
            body="A change is waiting for your review.",
            exclude=requested_by.email if requested_by else "",
        )
    return approval
