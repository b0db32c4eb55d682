"""The posture score from counts (no ORM): CAVRA v1's formula, and the normalised headline score.

v1 (kept for compatibility in exports):
    v1 = clamp(100 - sum(decision weight x count) - sum(finding weight x open findings), 0, 100)

Headline: raw decision weights saturate at real volumes (200 blocks alone take v1 to 0), so the
decision part is normalised to a rate per 1,000 decisions and costs one point per
DECISION_RATE_PER_POINT of that rate:
    rate = sum(decision weight x count) x 1000 / total decisions        (0 when there are none)
    score = clamp(100 - rate / DECISION_RATE_PER_POINT - sum(finding weight x open findings), 0, 100)
Both are rounded half up to an integer. docs/aispm.md has a worked example.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

DECISION_WEIGHTS: dict[str, int] = {
    "block": 16,
    "require_approval": 10,
    "warn": 5,
    "audit_only": 2,
    "allow_with_attestation": 1,
    "allow": 0,
}
FINDING_WEIGHTS: dict[str, int] = {"critical": 30, "high": 18, "medium": 9, "low": 3}
DECISION_RATE_PER_POINT = 100
OUTCOME_LABELS = {
    "block": "blocked",
    "require_approval": "held for approval",
    "warn": "warned",
    "audit_only": "allowed in audit-only mode that policy would have stopped",
    "allow_with_attestation": "allowed with attestation",
}


def round_half_up(value: float) -> int:
    return int(math.floor(value + 0.5))


def clamp(value: float) -> float:
    return max(0.0, min(100.0, value))


@dataclass
class Deduction:
    points: float
    reason: str
    kind: str  # "decisions" or "findings"
    key: str  # outcome or severity


@dataclass
class Score:
    score: int
    v1_score: int
    decisions: int
    decision_rate: float
    deductions: list[Deduction] = field(default_factory=list)
    v1_deductions: list[Deduction] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "score": self.score,
            "v1_score": self.v1_score,
            "decisions": self.decisions,
            "decision_weight_per_1000": round(self.decision_rate, 2),
            "components": [
                {"kind": d.kind, "key": d.key, "points": round(d.points, 2), "reason": d.reason}
                for d in self.deductions
            ],
            "v1_components": [
                {"kind": d.kind, "key": d.key, "points": round(d.points, 2), "reason": d.reason}
                for d in self.v1_deductions
            ],
        }


def posture_score(outcomes: Mapping[str, int], open_findings: Mapping[str, int]) -> Score:
    """Score from decision counts by outcome (all outcomes, allow included) and open findings by severity."""
    total = sum(int(n) for n in outcomes.values())
    weighted = {o: DECISION_WEIGHTS.get(o, 0) * int(n) for o, n in outcomes.items()}
    raw = sum(weighted.values())
    rate = raw * 1000 / total if total else 0.0
    deductions: list[Deduction] = []
    v1: list[Deduction] = []
    for outcome, weight in DECISION_WEIGHTS.items():
        n = int(outcomes.get(outcome, 0))
        if not n or not weight:
            continue
        label = OUTCOME_LABELS[outcome]
        v1.append(Deduction(weight * n, f"{n} decision(s) {label} x {weight}", "decisions", outcome))
        per_thousand = weight * n * 1000 / total
        deductions.append(
            Deduction(
                per_thousand / DECISION_RATE_PER_POINT,
                f"{n} of {total} decision(s) {label}: weight {weight} each = {per_thousand:.1f} per 1,000 "
                f"decisions / {DECISION_RATE_PER_POINT}",
                "decisions",
                outcome,
            )
        )
    for severity, weight in FINDING_WEIGHTS.items():
        n = int(open_findings.get(severity, 0))
        if not n:
            continue
        entry = Deduction(weight * n, f"{n} open {severity} finding(s) x {weight}", "findings", severity)
        deductions.append(entry)
        v1.append(Deduction(entry.points, entry.reason, entry.kind, entry.key))
    score = round_half_up(clamp(100 - sum(d.points for d in deductions)))
    v1_score = round_half_up(clamp(100 - sum(d.points for d in v1)))
    return Score(score, v1_score, total, rate, deductions, v1)
