"""Reads for the posture dashboards, all from rollups plus today's partial (never a scan of all decisions)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.core.exceptions import ValidationError
from django.db.models import Count, DateField, QuerySet, Sum, Value
from django.utils import timezone

from aispm.catalogue import Framework, framework_get, frameworks
from aispm.compiled import compiled_rules_of
from aispm.models import ControlRollup, DailyPosture, DecisionRollup, Finding
from aispm.score import Score, posture_score
from aispm.services.rollups import WINDOW_DAYS, control_groups, day_bounds, outcome_expression
from cavra_engine.policy.vocabulary import SEVERITY_RANK
from cavra_engine.surfaces import SURFACE_LABELS, SURFACES
from core.authz import get_for_tenant_or_404
from core.roles import Role
from evidence.models import Decision, EvidenceRecord
from policies.models import Rollout
from registry.models import Agent
from tenants.models import Tenant

SUMMARY_ROLES = (Role.TENANT_ADMIN, Role.COMPLIANCE_OFFICER, Role.AUDITOR, Role.EXECUTIVE)
DETAIL_ROLES = (Role.TENANT_ADMIN, Role.COMPLIANCE_OFFICER, Role.AUDITOR)
FINDING_WRITE_ROLES = (Role.TENANT_ADMIN, Role.COMPLIANCE_OFFICER)
CHECK_ADMIN_ROLES = (Role.TENANT_ADMIN,)
# The capabilities AispmConfig.ready() registers with core.authz (capability -> the roles above).
VIEW = "aispm.view"  # posture, findings, coverage summaries, readiness
VIEW_DETAIL = "aispm.view_detail"  # evidence drill-downs, near-misses, timeline, exports, checks
MANAGE_FINDINGS = "aispm.manage_findings"
MANAGE_CHECKS = "aispm.manage_checks"
CAPABILITIES = {
    VIEW: SUMMARY_ROLES,
    VIEW_DETAIL: DETAIL_ROLES,
    MANAGE_FINDINGS: FINDING_WRITE_ROLES,
    MANAGE_CHECKS: CHECK_ADMIN_ROLES,
}
NEAR_MISS_SEVERITIES = ("high", "critical")
NEAR_MISS_OUTCOMES = ("block", "require_approval")
# Most severe first: critical sorts before high, and so on down the shared severity order.
SEVERITY_ORDER = {name: -rank for name, rank in SEVERITY_RANK.items()}
GOVERNANCE_KINDS_EXCLUDED = ("decision", "decision.recorded", "session.opened")


def window(days: int = WINDOW_DAYS, today: date | None = None) -> tuple[date, date]:
    today = today or timezone.now().date()
    return today - timedelta(days=days - 1), today


def parse_days(value, default: int = WINDOW_DAYS) -> int:
    if value in (None, ""):
        return default
    try:
        days = int(str(value))
    except ValueError:
        raise ValidationError({"days": "Use a whole number of days between 1 and 365."})
    if not 1 <= days <= 365:
        raise ValidationError({"days": "Use a whole number of days between 1 and 365."})
    return days


# -- decision counts: rollups + a live GROUP BY for what came after today's cut------------------------------


def decision_rows(
    *,
    tenant: Tenant,
    days: int = WINDOW_DAYS,
    group_by: tuple[str, ...] = ("outcome",),
    filters: dict | None = None,
) -> list[dict]:
    """Decision counts over the window grouped by `group_by`, summed in SQL: DecisionRollup rows (today's
    up to its last cut) plus a live GROUP BY over the decisions after the cut. `filters` use rollup field
    names and lookups."""
    start_day, today = window(days)
    filters = {k: v for k, v in (filters or {}).items() if v not in (None, "")}
    merged: Counter = Counter()
    past = DecisionRollup.objects.filter(tenant=tenant, day__gte=start_day, day__lte=today, **filters)
    for row in past.order_by().values(*group_by).annotate(n=Sum("count")):
        merged[tuple(row[k] for k in group_by)] += row["n"]
    start, end = live_range(tenant, today)
    live = (
        Decision.objects.filter(tenant=tenant, created_at__gte=start, created_at__lt=end)
        .annotate(outcome=outcome_expression(), day=Value(today, output_field=DateField()))
        .filter(**filters)
    )
    for row in live.order_by().values(*group_by).annotate(n=Count("id")):
        merged[tuple(row[k] for k in group_by)] += row["n"]
    return [{**dict(zip(group_by, key, strict=True)), "count": n} for key, n in merged.items()]


def live_range(tenant: Tenant, today: date) -> tuple[datetime, datetime]:
    """The part of today not yet in the rollups: from today's last rollup cut (or midnight) to tomorrow."""
    start, end = day_bounds(today)
    cut = DailyPosture.objects.filter(tenant=tenant, day=today).values_list("computed_at", flat=True).first()
    return (max(start, cut) if cut else start), end


def _outcomes(rows) -> Counter:
    outcomes: Counter = Counter()
    for row in rows:
        outcomes[row["outcome"]] += row["count"]
    return outcomes


def open_findings_by_severity(*, tenant: Tenant, filters: dict | None = None) -> dict[str, int]:
    qs = Finding.objects.filter(tenant=tenant, status__in=(Finding.Status.OPEN, Finding.Status.ACKNOWLEDGED))
    if filters:
        qs = qs.filter(**{k: v for k, v in filters.items() if v})
    return {r["severity"]: r["n"] for r in qs.order_by().values("severity").annotate(n=Count("id"))}


def score_for(*, tenant: Tenant, days: int = WINDOW_DAYS, surface="", repository="", agent_ref="") -> Score:
    """The headline and v1 score of the tenant, or of one surface / repository / agent."""
    dims = {"surface": surface, "repository": repository, "agent_ref": agent_ref}
    outcomes = _outcomes(decision_rows(tenant=tenant, days=days, filters=dims))
    return posture_score(outcomes, open_findings_by_severity(tenant=tenant, filters=dims))


@dataclass
class Posture:
    score: Score
    days: int
    by_surface: list[dict] = field(default_factory=list)
    by_repository: list[dict] = field(default_factory=list)
    by_agent: list[dict] = field(default_factory=list)
    outcomes: dict = field(default_factory=dict)


def _scores_by(tenant, rows, key: str, findings_key: str, limit: int | None = None) -> list[dict]:
    outcomes: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        outcomes[row[key]][row["outcome"]] += row["count"]
    finding_rows = (
        Finding.objects.filter(tenant=tenant, status__in=(Finding.Status.OPEN, Finding.Status.ACKNOWLEDGED))
        .order_by()
        .values(findings_key, "severity")
        .annotate(n=Count("id"))
    )
    findings: dict[str, dict] = defaultdict(dict)
    for r in finding_rows:
        findings[r[findings_key]][r["severity"]] = r["n"]
    keys = set(outcomes) | {k for k in findings if k}
    if key == "surface":
        keys = set(SURFACES)
    result = []
    for value in keys:
        s = posture_score(outcomes.get(value, {}), findings.get(value, {}))
        result.append({"key": value, "label": SURFACE_LABELS.get(value, value) if key == "surface" else value,
                       "score": s.score, "decisions": s.decisions, "breakdown": s.as_dict()})  # fmt: skip
    result.sort(key=lambda r: (r["score"], -r["decisions"], r["key"]))
    return result[:limit] if limit else result


def posture(*, tenant: Tenant, days: int = WINDOW_DAYS) -> Posture:
    # One grouped read serves the total and the three cuts (rollup rows are few; Python sums them).
    rows = decision_rows(tenant=tenant, days=days, group_by=("surface", "repository", "agent_ref", "outcome"))
    outcomes = _outcomes(rows)
    score = posture_score(outcomes, open_findings_by_severity(tenant=tenant))

    def rows_by(key):
        return [r for r in rows if r[key]]

    by_agent = _scores_by(tenant, rows_by("agent_ref"), "agent_ref", "agent_ref", 10)
    agents = Agent.objects.filter(tenant=tenant, public_id__in=[a["key"] for a in by_agent])
    names = dict(agents.values_list("public_id", "name"))
    for entry in by_agent:
        entry["label"] = names.get(entry["key"], entry["key"])
    return Posture(
        score=score,
        days=days,
        by_surface=_scores_by(tenant, rows_by("surface"), "surface", "surface"),
        by_repository=_scores_by(tenant, rows_by("repository"), "repository", "repository", 10),
        by_agent=by_agent,
        outcomes=dict(outcomes),
    )


# -- trends -------------------------------------------------------------------------------------------


def trend(*, tenant: Tenant, days: int = WINDOW_DAYS, live: Score | None = None) -> list[dict]:
    """Per day: score, decisions by outcome, findings opened/closed, approval minutes (rollups + today).

    Today's score is the live one (`live`, computed when not given)."""
    start_day, today = window(days)
    by_day: dict[date, Counter] = defaultdict(Counter)
    for row in decision_rows(tenant=tenant, days=days, group_by=("day", "outcome")):
        by_day[row["day"]][row["outcome"]] += row["count"]
    postures = {
        p.day: p for p in DailyPosture.objects.filter(tenant=tenant, day__gte=start_day, day__lte=today)
    }
    live = live or score_for(tenant=tenant, days=WINDOW_DAYS)
    series = []
    for offset in range(days):
        day = start_day + timedelta(days=offset)
        p = postures.get(day)
        series.append({
            "day": day,
            "score": live.score if day == today else (p.score if p else None),
            "v1_score": live.v1_score if day == today else (p.v1_score if p else None),
            "allow": by_day[day]["allow"], "audit_only": by_day[day]["audit_only"],
            "require_approval": by_day[day]["require_approval"], "block": by_day[day]["block"],
            "findings_opened": p.findings_opened if p else 0, "findings_closed": p.findings_closed if p else 0,
            "approvals_decided": p.approvals_decided if p else 0,
            "approval_minutes": p.approval_minutes_avg if p else None,
            "approvals_expired": p.approvals_expired if p else 0, "break_glass": p.break_glass if p else 0,
        })  # fmt: skip
    return series


def top_blocked_rules(*, tenant: Tenant, days: int = WINDOW_DAYS, limit: int = 10) -> list[dict]:
    rows = decision_rows(
        tenant=tenant, days=days, group_by=("rule_id", "surface"), filters={"outcome": "block"}
    )
    rows = sorted((r for r in rows if r["rule_id"]), key=lambda r: (-r["count"], r["rule_id"]))
    return rows[:limit]


def approval_sla(*, tenant: Tenant, days: int = WINDOW_DAYS) -> dict:
    agg = DailyPosture.objects.filter(tenant=tenant, day__gte=window(days)[0]).aggregate(
        decided=Sum("approvals_decided"), seconds=Sum("approval_seconds_total"),
        expired=Sum("approvals_expired"), break_glass=Sum("break_glass"),
    )  # fmt: skip
    decided = agg["decided"] or 0
    return {
        "decided": decided,
        "expired": agg["expired"] or 0,
        "break_glass": agg["break_glass"] or 0,
        "avg_minutes": round((agg["seconds"] or 0) / decided / 60, 1) if decided else None,
    }


# -- findings -----------------------------------------------------------------------------------------

FINDING_FILTERS = ("status", "severity", "surface", "check", "agent", "repository")


def findings_list(*, tenant: Tenant, user=None) -> QuerySet[Finding]:
    """The tenant's findings, last changed first (aispm.filtersets narrows them for the page and the API)."""
    return (
        Finding.objects.filter(tenant=tenant)
        .select_related("acknowledged_by", "risk_accepted_by")
        .order_by("-status_changed_at", "-id")
    )


def finding_get(*, tenant: Tenant, user=None, public_id: str) -> Finding:
    return get_for_tenant_or_404(
        Finding.objects.select_related("acknowledged_by", "risk_accepted_by"), tenant, public_id=public_id
    )


def finding_history(*, tenant: Tenant, finding: Finding) -> list[EvidenceRecord]:
    return list(
        EvidenceRecord.objects.filter(
            tenant=tenant, subject=finding.public_id, kind__startswith="aispm.finding."
        )
        .order_by("seq")
        .only("public_id", "seq", "kind", "payload", "actor", "created_at")
    )


def top_risks(*, tenant: Tenant, limit: int = 5) -> list[Finding]:
    unresolved = Finding.objects.filter(
        tenant=tenant, status__in=(Finding.Status.OPEN, Finding.Status.ACKNOWLEDGED)
    ).only("public_id", "title", "detail", "severity", "surface", "status", "first_seen_at")
    return sorted(unresolved, key=lambda f: (SEVERITY_ORDER.get(f.severity, 9), f.first_seen_at))[:limit]


# -- near-misses --------------------------------------------------------------------------------------


def near_misses(*, tenant: Tenant, days: int = WINDOW_DAYS, by: str = "rule_id") -> list[dict]:
    """High/critical actions blocked or held for approval, grouped by agent, rule or repository."""
    if by not in ("agent_ref", "rule_id", "repository"):
        raise ValidationError({"by": "Group by agent_ref, rule_id or repository."})
    groups: dict[str, Counter] = defaultdict(Counter)
    rows = decision_rows(
        tenant=tenant, days=days, group_by=(by, "outcome", "severity"),
        filters={"severity__in": NEAR_MISS_SEVERITIES, "outcome__in": NEAR_MISS_OUTCOMES},
    )  # fmt: skip
    for row in rows:
        groups[row[by] or ""][row["outcome"]] += row["count"]
        groups[row[by] or ""][row["severity"]] += row["count"]
    result = [
        {"key": key, "block": c["block"], "require_approval": c["require_approval"], "critical": c["critical"],
         "high": c["high"], "total": c["block"] + c["require_approval"]}
        for key, c in groups.items()
    ]  # fmt: skip
    result.sort(key=lambda r: (-r["critical"], -r["total"], r["key"]))
    return result


def near_miss_decisions(
    *, tenant: Tenant, days: int = WINDOW_DAYS, filters: dict | None = None, limit: int = 100
):
    start_day, _ = window(days)
    qs = Decision.objects.filter(
        tenant=tenant,
        created_at__gte=day_bounds(start_day)[0],
        severity__in=NEAR_MISS_SEVERITIES,
        decision__in=NEAR_MISS_OUTCOMES,
    )
    for key in ("agent_ref", "rule_id", "repository"):
        value = (filters or {}).get(key)
        if value is not None and value != "":
            if "\x00" in value:
                raise ValidationError({key: "Null characters are not allowed."})
            qs = qs.filter(**{key: value})
    return qs.select_related("evidence").order_by("-created_at")[:limit]


# -- control coverage ---------------------------------------------------------------------------------


def rules_in_force(*, tenant: Tenant) -> dict[tuple[str, str], set[str]]:
    """(framework, control) -> ids of rules in rolled-out policies mapping to it (enforce, strict or audit)."""
    mapped: dict[tuple[str, str], set[str]] = defaultdict(set)
    versions = {
        r.version_id: r.version for r in Rollout.objects.filter(tenant=tenant).select_related("version")
    }
    for version in versions.values():
        for rule in compiled_rules_of(version)["rules"]:
            for framework, ids in rule["compliance"].items():
                for control in ids:
                    mapped[(framework, str(control))].add(rule["id"])
    return mapped


def control_counts(*, tenant: Tenant, days: int, framework: str | None = None) -> dict[tuple, Counter]:
    """(framework, control) -> Counter(rule -> decisions) in the window (rollups + today's partial)."""
    start_day, today = window(days)
    counts: dict[tuple, Counter] = defaultdict(Counter)
    past = ControlRollup.objects.filter(tenant=tenant, day__gte=start_day, day__lte=today)
    if framework:
        past = past.filter(framework=framework)
    for row in past.order_by().values("framework", "control_id", "rule_id").annotate(n=Sum("count")):
        counts[(row["framework"], row["control_id"])][row["rule_id"]] += row["n"]
    start, end = live_range(tenant, today)
    for (fw, control, rule), n in control_groups(tenant, start, end).items():
        if framework is None or fw == framework:
            counts[(fw, control)][rule] += n
    return counts


def coverage(
    *, tenant: Tenant, framework: Framework, days: int = WINDOW_DAYS, in_force=None, counts=None
) -> list[dict]:
    in_force = rules_in_force(tenant=tenant) if in_force is None else in_force
    if counts is None:
        counts = control_counts(tenant=tenant, days=days, framework=framework.id)
    counts = {control: c for (fw, control), c in counts.items() if fw == framework.id}
    rows = []
    for control in framework.controls:
        rules = sorted(in_force.get((framework.id, control.id), set()))
        exercised = counts.get(control.id, Counter())
        decisions = sum(exercised.values())
        if rules and decisions:
            status = "covered"
            reason = f"{len(rules)} rule(s) in force; exercised by {decisions} decision(s) in {days} days."
        elif rules:
            status = "partial"
            reason = f"{len(rules)} rule(s) in force map to it, but no decision exercised it in {days} days."
        elif decisions:
            status = "partial"
            reason = f"Exercised by {decisions} decision(s), but no rule in force maps to it any more."
        else:
            status = "not_covered"
            reason = "No rule in force maps to this control."
        rows.append({"id": control.id, "title": control.title, "rules": rules, "decisions": decisions,
                     "evidence": decisions, "status": status, "reason": reason,
                     "exercising_rules": sorted(exercised)})  # fmt: skip
    return rows


def coverage_summary(*, tenant: Tenant, days: int = WINDOW_DAYS) -> list[dict]:
    summary = []
    in_force, counts = rules_in_force(tenant=tenant), control_counts(tenant=tenant, days=days)
    for fw in frameworks().values():
        rows = coverage(tenant=tenant, framework=fw, days=days, in_force=in_force, counts=counts)
        c = Counter(r["status"] for r in rows)
        total = len(rows)
        summary.append({"id": fw.id, "title": fw.title, "total": total, "covered": c["covered"],
                        "partial": c["partial"], "not_covered": c["not_covered"],
                        "percent": round(100 * c["covered"] / total) if total else 0})  # fmt: skip
    return summary


def framework_or_404(framework_id: str) -> Framework:
    from django.http import Http404

    fw = framework_get(framework_id)
    if fw is None:
        raise Http404("No such framework.")
    return fw


def control_decisions(*, tenant: Tenant, framework: Framework, control_id: str, days: int, limit: int = 100):
    """Recent decisions that exercised the control: by the rules that mapped decisions to it (indexed range)."""
    from django.http import Http404

    if framework.control(control_id) is None:
        raise Http404("No such control in this framework.")
    counts = control_counts(tenant=tenant, framework=framework.id, days=days).get(
        (framework.id, control_id), Counter()
    )
    rules = [r for r in counts if r]
    if not rules:
        return []
    since = day_bounds(window(days)[0])[0]
    candidates = (
        Decision.objects.filter(tenant=tenant, created_at__gte=since, rule_id__in=rules)
        .select_related("evidence")
        .order_by("-created_at")[: limit * 4]
    )
    return [d for d in candidates if control_id in (d.compliance or {}).get(framework.id, [])][:limit]


# -- timeline -----------------------------------------------------------------------------------------


def timeline(*, tenant: Tenant, kinds: str = "", before_seq: int | None = None, limit: int = 100):
    """Governance events from the evidence chain: everything but the decisions and session opens."""
    qs = EvidenceRecord.objects.filter(tenant=tenant).exclude(kind__in=GOVERNANCE_KINDS_EXCLUDED)
    if kinds:
        if "\x00" in kinds:
            raise ValidationError({"kind": "Null characters are not allowed."})
        qs = qs.filter(kind__startswith=kinds)
    if before_seq is not None:
        qs = qs.filter(seq__lt=before_seq)
    return list(
        qs.order_by("-seq").only("public_id", "seq", "kind", "subject", "actor", "created_at", "payload")[
            :limit
        ]
    )


def since_datetime(days: int) -> datetime:
    return day_bounds(window(days)[0])[0]
