"""What a report says: its data read from the AISPM selectors and rollups, in full or redacted.

A redacted variant (for recipients outside the tenant's members) keeps counts, rule ids, severities
and statuses and drops what could reveal the inside of a system: targets (commands, paths, URLs,
MCP arguments), reasons and finding details (they quote paths and commands), free context.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from aispm import selectors
from aispm.catalogue import frameworks
from aispm.models import Finding
from core.outbox import redact
from evidence.models import Decision
from tenants.models import Tenant

REDACTED = "[redacted]"
EXPORT_LIMIT = 50_000


@dataclass
class Scope:
    window_days: int = 30
    repositories: list[str] = field(default_factory=list)
    frameworks: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "window_days": self.window_days,
            "repositories": self.repositories,
            "frameworks": self.frameworks,
        }


@dataclass
class Content:
    """`context` feeds the HTML/PDF templates, `data` the JSON, `table` (columns, rows) the CSV/XLSX."""

    context: dict
    data: dict
    columns: list[str] = field(default_factory=list)
    rows: list[list] = field(default_factory=list)


def _text(value, redacted: bool) -> str:
    return REDACTED if redacted and value else redact(str(value or ""))


def _frameworks(scope: Scope):
    chosen = frameworks()
    return [fw for fid, fw in chosen.items() if not scope.frameworks or fid in scope.frameworks]


def _near_miss_rows(tenant: Tenant, scope: Scope, redacted: bool, limit: int) -> list[dict]:
    qs = selectors.near_miss_decisions(tenant=tenant, days=scope.window_days, limit=limit)
    rows = []
    for d in qs:
        if scope.repositories and d.repository not in scope.repositories:
            continue
        rows.append({"decision": d.public_id, "at": d.created_at, "agent": d.agent_ref, "action": d.action,
                     "target": _text(d.target, redacted), "repository": d.repository, "decision_outcome": d.decision,
                     "rule": d.rule_id, "severity": d.severity, "reason": _text(d.reason, redacted)})  # fmt: skip
    return rows


def _risk_rows(tenant: Tenant, redacted: bool) -> list[dict]:
    return [
        {"finding": f.public_id, "title": f.title, "severity": f.severity, "surface": f.surface,
         "status": f.status, "detail": _text(f.detail, redacted)}
        for f in selectors.top_risks(tenant=tenant, limit=10)
    ]  # fmt: skip


def _headline(tenant: Tenant, scope: Scope) -> dict:
    posture = selectors.posture(tenant=tenant, days=scope.window_days)
    repos = [
        {
            "repository": r,
            "score": selectors.score_for(tenant=tenant, days=scope.window_days, repository=r).score,
        }
        for r in scope.repositories
    ]
    findings = selectors.open_findings_by_severity(tenant=tenant)
    return {
        "score": posture.score.score,
        "v1_score": posture.score.v1_score,
        "components": posture.score.as_dict()["components"],
        "outcomes": {k: posture.outcomes.get(k, 0) for k in ("allow", "audit_only", "require_approval", "block")},
        "decisions": posture.score.decisions,
        "by_surface": [{"surface": s["key"], "score": s["score"]} for s in posture.by_surface],
        "repositories": repos,
        "open_findings": findings,
        "open_findings_total": sum(findings.values()),
        "approvals": selectors.approval_sla(tenant=tenant, days=scope.window_days),
        "blocked_rules": [{"rule": r["rule_id"], "count": r["count"]}
                          for r in selectors.top_blocked_rules(tenant=tenant, days=scope.window_days)],
        "coverage": [c for c in selectors.coverage_summary(tenant=tenant, days=scope.window_days)
                     if not scope.frameworks or c["id"] in scope.frameworks],
    }  # fmt: skip


def executive_brief(tenant: Tenant, scope: Scope, redacted: bool) -> Content:
    data = {**_headline(tenant, scope), "risks": _risk_rows(tenant, redacted),
            "near_misses": _near_miss_rows(tenant, scope, redacted, limit=10)}  # fmt: skip
    return Content(context=data, data=data)


def board_kpi(tenant: Tenant, scope: Scope, redacted: bool) -> Content:
    head = _headline(tenant, scope)
    data = {
        "score": head["score"], "v1_score": head["v1_score"], "decisions": head["decisions"],
        "outcomes": head["outcomes"], "open_findings": head["open_findings"],
        "open_findings_total": head["open_findings_total"], "approvals": head["approvals"],
        "coverage": [{"framework": c["id"], "percent": c["percent"], "covered": c["covered"], "total": c["total"]}
                     for c in head["coverage"]],
        "repositories": head["repositories"],
    }  # fmt: skip
    return Content(context=data, data=data)


COVERAGE_COLUMNS = ["framework", "control", "title", "status", "rules_in_force", "decisions", "reason"]


def _coverage_rows(tenant: Tenant, scope: Scope) -> list[list]:
    in_force = selectors.rules_in_force(tenant=tenant)
    counts = selectors.control_counts(tenant=tenant, days=scope.window_days)
    rows = []
    for fw in _frameworks(scope):
        for c in selectors.coverage(tenant=tenant, framework=fw, days=scope.window_days, in_force=in_force,
                                    counts=counts):  # fmt: skip
            rows.append(
                [fw.id, c["id"], c["title"], c["status"], " ".join(c["rules"]), c["decisions"], c["reason"]]
            )
    return rows


def evidence_summary(tenant: Tenant, scope: Scope, redacted: bool) -> Content:
    rows = _coverage_rows(tenant, scope)
    summary = [c for c in selectors.coverage_summary(tenant=tenant, days=scope.window_days)
               if not scope.frameworks or c["id"] in scope.frameworks]  # fmt: skip
    controls = [dict(zip(COVERAGE_COLUMNS, r, strict=True)) for r in rows]
    data = {"frameworks": summary, "controls": controls}
    return Content(context=data, data=data, columns=COVERAGE_COLUMNS, rows=rows)


def coverage_export(tenant: Tenant, scope: Scope, redacted: bool) -> Content:
    rows = _coverage_rows(tenant, scope)
    return Content(context={}, data={}, columns=COVERAGE_COLUMNS, rows=rows)


FINDING_COLUMNS = ["finding", "check", "title", "severity", "surface", "status", "repository", "agent",
                   "first_seen_at", "last_seen_at", "status_changed_at", "detail"]  # fmt: skip


def findings_export(tenant: Tenant, scope: Scope, redacted: bool) -> Content:
    qs = Finding.objects.filter(tenant=tenant).order_by("-status_changed_at", "-id")
    if scope.repositories:
        qs = qs.filter(repository__in=scope.repositories)
    rows = [
        [f.public_id, f.check_id, f.title, f.severity, f.surface, f.status, f.repository, f.agent_ref,
         f.first_seen_at, f.last_seen_at, f.status_changed_at, _text(f.detail, redacted)]
        for f in qs[:EXPORT_LIMIT]
    ]  # fmt: skip
    return Content(context={}, data={}, columns=FINDING_COLUMNS, rows=rows)


DECISION_COLUMNS = ["decision", "at", "agent", "action", "target", "repository", "environment", "outcome",
                    "rule", "severity", "policy", "policy_version", "mode", "reason"]  # fmt: skip


def decisions_export(tenant: Tenant, scope: Scope, redacted: bool) -> Content:
    qs = Decision.objects.filter(tenant=tenant, created_at__gte=selectors.since_datetime(scope.window_days))
    if scope.repositories:
        qs = qs.filter(repository__in=scope.repositories)
    rows = [
        [d.public_id, d.created_at, d.agent_ref, d.action, _text(d.target, redacted), d.repository, d.environment,
         d.decision, d.rule_id, d.severity, d.policy_pack, d.policy_version, d.policy_mode,
         _text(d.reason, redacted)]
        for d in qs.order_by("-created_at", "-id")[:EXPORT_LIMIT]
    ]  # fmt: skip
    return Content(context={}, data={}, columns=DECISION_COLUMNS, rows=rows)


NEAR_MISS_COLUMNS = ["decision", "at", "agent", "action", "target", "repository", "decision_outcome", "rule",
                     "severity", "reason"]  # fmt: skip


def near_misses_export(tenant: Tenant, scope: Scope, redacted: bool) -> Content:
    found = _near_miss_rows(tenant, scope, redacted, limit=EXPORT_LIMIT)
    return Content(
        context={},
        data={},
        columns=NEAR_MISS_COLUMNS,
        rows=[[r[c] for c in NEAR_MISS_COLUMNS] for r in found],
    )


BUILDERS = {
    "executive_brief": executive_brief,
    "board_kpi": board_kpi,
    "evidence_summary": evidence_summary,
    "findings_export": findings_export,
    "decisions_export": decisions_export,
    "near_misses_export": near_misses_export,
    "coverage_export": coverage_export,
}


def cell(value):
    """A table cell as text for CSV/XLSX: times in UTC ISO 8601."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value
