"""Daily rollups: decisions by outcome x surface x severity x agent x repository x rule, controls exercised,
and the day's posture row. A day is rebuilt from that day's decisions only (one indexed range), so the
cost of keeping rollups current is proportional to new decisions, never to the whole table.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Case, CharField, Count, F, Q, Sum, Value, When
from django.utils import timezone

from aispm.models import ControlRollup, DailyPosture, DecisionRollup, Finding
from aispm.score import posture_score
from approvals.models import ApprovalRequest
from evidence.models import Decision
from tenants.models import Tenant

WINDOW_DAYS = 30
ROLLUP_DIMENSIONS = ("surface", "outcome", "severity", "agent_ref", "repository", "rule_id")


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def outcome_expression():
    """allow / block / require_approval, with allows that audit-only mode softened counted as audit_only."""
    softened = Q(decision="allow", policy_mode="audit_only") & ~Q(context__would_have=None)
    return Case(When(softened, then=Value("audit_only")), default=F("decision"), output_field=CharField())


def decision_groups(tenant: Tenant, start: datetime, end: datetime):
    """The GROUP BY behind a rollup row, over one time range (a day, or today's partial)."""
    return (
        Decision.objects.filter(tenant=tenant, created_at__gte=start, created_at__lt=end)
        .annotate(outcome=outcome_expression())
        .order_by()
        .values(*ROLLUP_DIMENSIONS)
        .annotate(count=Count("id"))
    )


def control_groups(tenant: Tenant, start: datetime, end: datetime) -> Counter:
    """(framework, control, rule) -> decisions; grouped by the stored mapping, expanded in Python."""
    counts: Counter = Counter()
    rows = (
        Decision.objects.filter(tenant=tenant, created_at__gte=start, created_at__lt=end)
        .exclude(compliance={})
        .order_by()
        .values("compliance", "rule_id")
        .annotate(n=Count("id"))
    )
    for row in rows:
        for framework, ids in (row["compliance"] or {}).items():
            for control in ids or []:
                counts[(framework, str(control), row["rule_id"])] += row["n"]
    return counts


def _findings_open_at(tenant: Tenant, moment: datetime) -> dict[str, int]:
    rows = (
        Finding.objects.filter(tenant=tenant, first_seen_at__lt=moment)
        .filter(Q(resolved_at__isnull=True) | Q(resolved_at__gte=moment))
        .exclude(status=Finding.Status.RISK_ACCEPTED)
        .order_by()
        .values("severity")
        .annotate(n=Count("id"))
    )
    return {r["severity"]: r["n"] for r in rows}


def rollup_day(*, tenant: Tenant, day: date) -> DailyPosture:
    """Rebuild one day's rollup rows and posture row (idempotent: safe to run again for the same day).

    For today the rows cover decisions up to now (`computed_at`); pages add the decisions after it live,
    so a page view never aggregates more than the minutes since the last rollup. A decision whose
    transaction commits just after the cut with an earlier timestamp is counted at the next rollup."""
    start, end = day_bounds(day)
    # Today is rolled up through `cut`; readers add live decisions from `cut` on (DailyPosture.computed_at).
    cut = min(end, timezone.now())
    groups = list(decision_groups(tenant, start, cut))
    controls = control_groups(tenant, start, cut)
    with transaction.atomic():
        DecisionRollup.objects.filter(tenant=tenant, day=day).delete()
        ControlRollup.objects.filter(tenant=tenant, day=day).delete()
        DecisionRollup.objects.bulk_create(
            [DecisionRollup(tenant=tenant, day=day, **g) for g in groups], batch_size=2000
        )
        ControlRollup.objects.bulk_create(
            [
                ControlRollup(tenant=tenant, day=day, framework=fw, control_id=ctl, rule_id=rule, count=n)
                for (fw, ctl, rule), n in controls.items()
            ],
            batch_size=2000,
        )
        window_start = day - timedelta(days=WINDOW_DAYS - 1)
        outcomes = Counter()
        for row in (
            DecisionRollup.objects.filter(tenant=tenant, day__gte=window_start, day__lte=day)
            .order_by()
            .values("outcome")
            .annotate(n=Sum("count"))
        ):
            outcomes[row["outcome"]] += row["n"] or 0
        open_at_end = _findings_open_at(tenant, cut)
        score = posture_score(outcomes, open_at_end)
        approvals = ApprovalRequest.objects.filter(tenant=tenant)
        decided = list(
            approvals.filter(decided_at__gte=start, decided_at__lt=cut, is_break_glass=False).values_list(
                "requested_at", "decided_at"
            )
        )
        posture, _ = DailyPosture.objects.update_or_create(
            tenant=tenant,
            day=day,
            defaults={
                "score": score.score,
                "v1_score": score.v1_score,
                "decisions": sum(g["count"] for g in groups),
                "findings_open": sum(open_at_end.values()),
                "findings_opened": Finding.objects.filter(
                    tenant=tenant, first_seen_at__gte=start, first_seen_at__lt=end
                ).count(),
                "findings_closed": Finding.objects.filter(
                    tenant=tenant, resolved_at__gte=start, resolved_at__lt=end
                ).count(),
                "approvals_decided": len(decided),
                "approval_seconds_total": int(sum((d - r).total_seconds() for r, d in decided)),
                "approvals_expired": approvals.filter(
                    status=ApprovalRequest.Status.EXPIRED, expires_at__gte=start, expires_at__lt=end
                ).count(),
                "break_glass": approvals.filter(
                    is_break_glass=True, decided_at__gte=start, decided_at__lt=end
                ).count(),
                "computed_at": cut,
            },
        )
    return posture


def rollup_backfill(*, tenant: Tenant, days: int = WINDOW_DAYS, today: date | None = None) -> int:
    """Rebuild the last `days` days, oldest first (each day's score reads the days before it)."""
    today = today or timezone.now().date()
    for offset in range(days - 1, -1, -1):
        rollup_day(tenant=tenant, day=today - timedelta(days=offset))
    return days
