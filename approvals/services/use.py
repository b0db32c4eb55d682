"""The decision API's side: checking and consuming an approval bound to one exact action."""

from __future__ import annotations

import hmac

from django.db import transaction
from django.utils import timezone

from approvals.models import (
    ApprovalRequest,
)
from approvals.services.state import USABLE, ApprovalCheck, S, _evidence, _hhmm, _locked, _transition
from tenants.models import Tenant


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
