"""Home panels: the operator's policy overview and everyone's recent decisions."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count
from django.utils import timezone

from core.pages import HomePanel
from policies.selectors import decision_list, rollouts


def _operator_context(*, user, tenant) -> dict:
    return {"rollouts": list(rollouts(tenant=tenant, user=user)[:8])}


def _activity_context(*, user, tenant) -> dict:
    since = timezone.now() - timedelta(days=1)
    qs = decision_list(tenant=tenant, user=user).filter(created_at__gte=since)
    counts = {r["decision"]: r["n"] for r in qs.order_by().values("decision").annotate(n=Count("id"))}
    return {"counts": counts, "recent": list(qs.order_by("-created_at")[:5])}


HOME_PANELS = [
    HomePanel(
        "Policies and rollouts",
        "policies/panels/operator.html",
        "policies.manage_rollouts",
        _operator_context,
        order=20,
    ),
    HomePanel(
        "Agent decisions, last 24 h",
        "policies/panels/activity.html",
        "policies.view_activity",
        _activity_context,
        order=30,
    ),
]
