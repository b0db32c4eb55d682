"""Home panel for reviewers and tenant admins: the approvals waiting for me."""

from __future__ import annotations

from approvals.models import BreakGlassReview
from approvals.selectors import QUEUE_ROLES, approval_queue
from core.pages import HomePanel
from core.roles import Role
from tenants.permissions import has_role


def _context(*, user, tenant) -> dict:
    open_bg = 0
    if has_role(user, tenant, Role.TENANT_ADMIN):
        open_bg = BreakGlassReview.objects.filter(tenant=tenant, status=BreakGlassReview.Status.OPEN).count()
    return {"items": approval_queue(tenant=tenant, user=user), "open_break_glass": open_bg}


HOME_PANELS = [
    HomePanel("Pending approvals for me", "approvals/panels/pending.html", QUEUE_ROLES, _context, order=10)
]
