"""The report types: what each one holds and in which formats it is rendered."""

from __future__ import annotations

from dataclasses import dataclass

CONTENT_TYPES = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True)
class ReportType:
    id: str
    title: str
    formats: tuple[str, ...]
    description: str


REPORT_TYPES: dict[str, ReportType] = {
    t.id: t
    for t in (
        ReportType("executive_brief", "Executive brief", ("html", "pdf"),
                   "Posture score and why, decisions by outcome, top risks, blocked rules, approvals, coverage."),
        ReportType("board_kpi", "Board KPI pack", ("json", "pdf"),
                   "The headline numbers for a board: score, decisions, findings, approval SLA, coverage."),
        ReportType("evidence_summary", "SOC 2 / ISO evidence summary", ("pdf", "csv", "json"),
                   "Per control of the chosen frameworks: rules in force, decisions that exercised it, status."),
        ReportType("findings_export", "Findings export", ("csv", "xlsx"), "Every finding with its lifecycle."),
        ReportType("decisions_export", "Decisions export", ("csv", "xlsx"), "Decisions in the window."),
        ReportType("near_misses_export", "Near-misses export", ("csv", "xlsx"),
                   "High and critical actions blocked or held for approval."),
        ReportType("coverage_export", "Control coverage export", ("csv", "xlsx"),
                   "Control coverage per framework."),
    )
}  # fmt: skip

REPORT_TYPE_CHOICES = [(t.id, t.title) for t in REPORT_TYPES.values()]
