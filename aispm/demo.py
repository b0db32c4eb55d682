"""Demo data for AISPM: a month in which reviewers decide (or miss) approvals, checks find problems that
people acknowledge or accept, and the rollups that make every chart have shape.

Like the policies demo, past events run under a simulated clock (demo only) so each record's time
is the time of the story, not the time of seeding.
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.test.utils import override_settings
from django.utils import timezone

from aispm.models import Finding
from aispm.services.findings import finding_acknowledge, finding_risk_accept, findings_refresh
from aispm.services.rollups import rollup_backfill
from approvals.models import ApprovalRequest
from approvals.services import (
    ApprovalNotAllowed,
    ApprovalStateError,
    approval_request_approve,
    approval_request_deny,
    approval_request_expire,
)
from policies.demo import simulated_clock
from registry.models import McpTool
from registry.services import mcp_tool_approve
from tenants.models import Membership, User

REVIEWER_ROLES = ("security_reviewer", "tenant_admin")
QUIET_EMAIL = "django.core.mail.backends.dummy.EmailBackend"


def _member_with(tenant, role: str):
    # roles is a JSON list; filtered in Python because the demo also runs on SQLite.
    for membership in Membership.objects.filter(tenant=tenant).select_related("user").order_by("id"):
        if role in (membership.roles or []):
            return membership.user
    return None


def _review_history(tenant, rng: random.Random) -> int:
    """Decide most past approval requests a few minutes to an hour after they opened; let some expire."""
    reviewers = list(User.objects.filter(email__in=[f"{r}@{tenant.slug}.test" for r in REVIEWER_ROLES]))
    if not reviewers:
        return 0
    cutoff = timezone.now() - timedelta(hours=2)
    done = 0
    for approval in ApprovalRequest.objects.filter(
        tenant=tenant, status=ApprovalRequest.Status.PENDING, requested_at__lt=cutoff
    ).order_by("requested_at"):
        roll = rng.random()
        if roll >= 0.78:
            with simulated_clock(approval.expires_at + timedelta(minutes=1)):
                approval_request_expire(approval_id=approval.pk)
            done += 1
            continue
        moment = min(
            approval.requested_at + timedelta(minutes=rng.randint(2, 45)),
            approval.expires_at - timedelta(minutes=1),
        )
        decide = approval_request_approve if roll < 0.62 else approval_request_deny
        for reviewer in reviewers:  # the agent's owner may not decide; the next reviewer does
            try:
                with simulated_clock(moment):
                    decide(approval=approval, actor=reviewer, reason="Reviewed the exact action in the demo.")
            except (ValidationError, ApprovalNotAllowed, ApprovalStateError):
                continue
            done += 1
            break
    return done


def _findings_story(tenant) -> int:
    """Checks switched on three weeks ago; a week later the officer acknowledged one and accepted one."""
    now = timezone.now()
    with simulated_clock(now - timedelta(days=21)):
        opened = findings_refresh(tenant=tenant).opened
    officer = _member_with(tenant, "compliance_officer")
    open_ones = list(Finding.objects.filter(tenant=tenant, status=Finding.Status.OPEN).order_by("id"))
    if officer is not None:
        with simulated_clock(now - timedelta(days=14)):
            low = [f for f in open_ones if f.severity in ("medium", "low")]
            if low:
                finding_risk_accept(
                    finding=low[0], actor=officer, until=now + timedelta(days=46),
                    reason="Accepted for the pilot; revisit at the quarterly review.",
                )  # fmt: skip
            high = [f for f in open_ones if f.severity in ("high", "critical") and f not in low[:1]]
            if high:
                finding_acknowledge(finding=high[0], actor=officer, note="Owner contacted; fix planned.")
    with simulated_clock(now - timedelta(days=6)):
        # The platform team re-approved the changed MCP tools after review; the next run resolves it.
        for tool in McpTool.objects.filter(tenant=tenant, status=McpTool.Status.CHANGED):
            mcp_tool_approve(tool=tool, actor=_member_with(tenant, "tenant_admin"))
        findings_refresh(tenant=tenant)
    return opened + findings_refresh(tenant=tenant).opened


def seed(*, tenants: dict, stdout=None) -> str:
    summary = []
    with override_settings(EMAIL_BACKEND=QUIET_EMAIL):
        for slug, tenant in tenants.items():
            if Finding.objects.filter(tenant=tenant).exists():
                findings_refresh(tenant=tenant)
                rollup_backfill(tenant=tenant)
                summary.append(f"{slug}: checks re-run, 30 days rolled up")
                continue
            reviewed = _review_history(tenant, random.Random(f"cavra-aispm-{slug}"))
            opened = _findings_story(tenant)
            rollup_backfill(tenant=tenant)
            summary.append(
                f"{slug}: {reviewed} approvals decided or expired, {opened} findings, 30 days rolled up"
            )
    return "; ".join(summary)
