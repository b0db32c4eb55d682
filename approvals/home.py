"""Home panel for reviewers and tenant admins: the approvals waiting for me."""

from __future__ import annotations

from approvals.models import BreakGlassReview
from approvals.selectors import approval_queue
from core.authz import can
from core.pages import HomePanel


def _context(*, user, tenant) -> dict:
    open_bg = 0
    if can(user, tenant, "approvals.break_glass"):
        open_bg = BreakGlassReview.objects.filter(tenant=tenant, status=BreakGlassReview.Status.OPEN).count()
    return {"items": approval_queue(tenant=tenant, user=user), "open_break_glass": open_bg}


HOME_PANELS = [
    HomePanel(
        "Pending approvals for me",
        "approvals/panels/pending.html",
        "approvals.review_queue",
        _context,
        order=10,
    )
]
