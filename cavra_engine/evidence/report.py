"""The verifier's report: the problems found (capped) and the summary of what was checked."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_PROBLEMS = 25


@dataclass
class Problem:
    where: str  # file name inside the bundle, or "bundle"
    message: str
    line: int | None = None
    seq: int | None = None

    def __str__(self) -> str:
        place = self.where
        if self.line is not None:
            place += f" line {self.line}"
        if self.seq is not None:
            place += f" (seq {self.seq})"
        return f"{place}: {self.message}"

    def as_dict(self) -> dict:
        return {"where": self.where, "line": self.line, "seq": self.seq, "message": self.message}


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, where: str, message: str, *, line: int | None = None, seq: int | None = None) -> None:
        self.problems.append(Problem(where, message, line, seq))

    @property
    def full(self) -> bool:
        return len(self.problems) >= MAX_PROBLEMS

    def as_dict(self) -> dict:
        return {"ok": self.ok, "summary": self.summary, "problems": [p.as_dict() for p in self.problems]}
