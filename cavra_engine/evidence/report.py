"""The verifier's report: error codes, the problems found (capped) and the summary of what was checked.

docs/evidence-format.md section 8 lists every code and the step that reports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_PROBLEMS = 25

# Error codes beyond the JSON/member ones in schema (docs/evidence-format.md section 8).
CONTAINER_LAYOUT = "container.layout"
CONTAINER_CRC = "container.crc"
FILE_NEWLINE = "file.newline"
FILE_DIGEST = "file.digest"
MANIFEST_FORMAT = "manifest.format"
MANIFEST_COUNTS = "manifest.counts"
TRUST_ROOT_TENANT = "trust_root.tenant"
TRUST_ROOT_KEY = "trust_root.key"
SIGNATURE_UNKNOWN_KEY = "signature.unknown_key"
SIGNATURE_KEY_NOT_VALID = "signature.key_not_valid"
SIGNATURE_INVALID = "signature.invalid"
CHECKPOINT_TENANT = "checkpoint.tenant"
CHECKPOINT_RANGE = "checkpoint.range"
CHECKPOINT_ORDER = "checkpoint.order"
CHECKPOINT_HEAD = "checkpoint.head_mismatch"
CHECKPOINT_END = "checkpoint.end_unsigned"
CHECKPOINT_MISSING = "checkpoint.missing"
CHECKPOINT_UNLISTED = "checkpoint.unlisted"
RECORD_HASH = "record.hash"
RECORD_SEQ = "record.seq"
RECORD_LINK = "record.link"
RECORD_TENANT = "record.tenant"
RECORD_END = "record.end"
RECORD_EMPTY = "record.empty"
RECORD_UNANCHORED = "record.unanchored"
SELECTION_MATCHED = "selection.matched"
SELECTION_SEQS = "selection.matched_seqs"
SELECTION_RANGE = "selection.range"
SELECTION_CUT = "selection.cut"
WITNESS_SIGNATURE = "witness.signature"
WITNESS_MISMATCH = "witness.mismatch"
MERKLE_FRONTIER = "merkle.frontier"
MERKLE_ROOT = "merkle.root_mismatch"
MERKLE_CONSISTENCY = "merkle.consistency"
INTERNAL = "bundle.unchecked"


@dataclass
class Problem:
    where: str  # file name inside the bundle, "--trust-root", or "bundle"
    message: str
    line: int | None = None
    seq: int | None = None
    code: str = ""
    member: str | None = None

    def __str__(self) -> str:
        place = self.where
        if self.line is not None:
            place += f" line {self.line}"
        if self.seq is not None:
            place += f" (seq {self.seq})"
        if self.member and not self.message.startswith(f"{self.member}:"):
            return f"{place}: {self.message} [{self.code}, member {self.member}]"
        return f"{place}: {self.message} [{self.code}]"

    def as_dict(self) -> dict:
        return {
            "where": self.where, "line": self.line, "seq": self.seq, "code": self.code,
            "member": self.member, "message": self.message,
        }  # fmt: skip


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(
        self, where: str, message: str, *, code: str, line: int | None = None, seq: int | None = None,
        member: str | None = None,
    ) -> None:  # fmt: skip
        self.problems.append(Problem(where, message, line, seq, code, member))

    def issues(self, where: str, issues, *, line: int | None = None, seq: int | None = None) -> bool:
        for code, member, message in issues:
            self.add(where, f"{member}: {message}", code=code, line=line, seq=seq, member=member)
        return bool(issues)

    @property
    def full(self) -> bool:
        return len(self.problems) >= MAX_PROBLEMS

    @property
    def codes(self) -> list[str]:
        return [p.code for p in self.problems]

    def as_dict(self) -> dict:
        return {"ok": self.ok, "summary": self.summary, "problems": [p.as_dict() for p in self.problems]}
