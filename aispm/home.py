"""Home panels: the executive's posture at a glance, and the compliance officer's work to do."""

from __future__ import annotations

from aispm import charts, selectors
from aispm.models import Finding
from aispm.selectors import VIEW, VIEW_DETAIL
from core.pages import HomePanel


def _executive_context(*, user, tenant) -> dict:
    score = selectors.score_for(tenant=tenant)
    series = selectors.trend(tenant=tenant, days=30, live=score)
    return {
        "score": score,
        "chart": charts.line_chart([(str(p["day"]), p["score"]) for p in series], title="Posture score, 30 days",
                                   width=420, height=120),
        "risks": selectors.top_risks(tenant=tenant),
        "coverage": selectors.coverage_summary(tenant=tenant),
        "sla": selectors.approval_sla(tenant=tenant),
    }  # fmt: skip


def _officer_context(*, user, tenant) -> dict:
    to_act = selectors.findings_list(tenant=tenant).filter(status=Finding.Status.OPEN)
    gaps = [fw for fw in selectors.coverage_summary(tenant=tenant) if fw["partial"] or fw["not_covered"]]
    return {"findings": list(to_act[:6]), "open_count": to_act.count(), "gaps": gaps[:6]}


HOME_PANELS = [
    HomePanel("AI security posture", "aispm/panels/executive.html", VIEW, _executive_context, order=5),
    HomePanel(
        "Findings to act on and coverage gaps",
        "aispm/panels/officer.html",
        VIEW_DETAIL,
        _officer_context,
        order=6,
    ),
]
