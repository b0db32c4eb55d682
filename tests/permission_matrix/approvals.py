"""Approval pages and API: the queue, detail, history, inline review, break-glass, post-hoc reviews."""

from approvals.services import approval_request_break_glass
from core.roles import Role
from tests.factories import AgentFactory, ApprovalRequestFactory
from tests.permission_matrix import Entry

READ = (Role.SECURITY_REVIEWER, Role.TENANT_ADMIN, Role.AUDITOR, Role.COMPLIANCE_OFFICER)
QUEUE = (Role.SECURITY_REVIEWER, Role.TENANT_ADMIN)
BG_REVIEW = (Role.TENANT_ADMIN, Role.COMPLIANCE_OFFICER, Role.AUDITOR)


def _approval(ctx):
    # a workflow file is routed to platform security, not limited to one repository's reviewers
    return ApprovalRequestFactory(
        agent=AgentFactory(tenant=ctx.tenant), target=".github/workflows/deploy.yml", policy_pack="baseline"
    )


def _kwargs(ctx) -> dict:
    return {"public_id": _approval(ctx).public_id}


def _break_glass_review(ctx) -> dict:
    approval = _approval(ctx)
    admin = ctx.member(Role.TENANT_ADMIN)
    approval = approval_request_break_glass(
        approval=approval, actor=admin, justification="Incident INC-1 needs it"
    )
    return {"review_id": approval.break_glass_review.pk}


ENTRIES = [
    Entry("approvals:queue", roles=QUEUE),
    Entry("approvals:history", roles=READ),
    Entry(
        "approvals:history-export", roles=READ, note="CSV of the page's rows (tests/core/test_list_tables.py)"
    ),
    Entry("approvals:detail", roles=READ, kwargs=_kwargs),
    Entry(
        "approvals:review",
        roles=(Role.SECURITY_REVIEWER,),
        method="POST",
        kwargs=_kwargs,
        data={"verdict": "approve", "reason": "matrix"},
        ok=(302,),
        note="any member may try; the service refuses all but the routed role (403)",
    ),
    Entry("approvals:break-glass", roles=(Role.TENANT_ADMIN,), kwargs=_kwargs),
    Entry(
        "approvals:break-glass",
        roles=(Role.TENANT_ADMIN,),
        method="POST",
        kwargs=_kwargs,
        data={"justification": "Production outage INC-42"},
        ok=(302,),
    ),
    Entry("approvals:break-glass-reviews", roles=BG_REVIEW),
    Entry(
        "approvals:break-glass-review-close",
        roles=BG_REVIEW,
        method="POST",
        kwargs=_break_glass_review,
        data={"notes": "Checked with the incident commander."},
        ok=(302,),
    ),
    Entry("approvals-api:list", roles=QUEUE, api=True),
    Entry("approvals-api:detail", roles=READ, api=True, kwargs=_kwargs),
    *[
        Entry(
            f"approvals-api:{verb}",
            roles=(Role.SECURITY_REVIEWER,),
            method="POST",
            api=True,
            kwargs=_kwargs,
            data={"reason": "matrix"},
        )
        for verb in ("approve", "deny")
    ],
    Entry(
        "approvals-api:break-glass",
        roles=(Role.TENANT_ADMIN,),
        method="POST",
        api=True,
        data=lambda ctx: {
            "approval_id": _approval(ctx).public_id,
            "justification": "Production outage INC-42",
        },
    ),
]
