"""What flows between the decision steps: the request, the caller, the policy in force, the judgement."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cavra_engine.policy import Verdict


class DecisionInputError(ValueError):
    """The request names something that does not exist for this agent; nothing is decided or recorded."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class DecisionUnavailable(Exception):
    """The portal cannot decide at all right now (database unreachable): answer 503, i.e. block."""


@dataclass
class DecisionInput:
    """One proposed action, as validated by the API serializer."""

    action: str
    target: str
    session_id: str | None = None
    repository: str | None = None
    environment: str | None = None
    operation: str | None = None
    branch: str | None = None
    force: bool | None = None
    remote: str | None = None
    method: str | None = None
    mcp: dict | None = None
    approval_id: str | None = None
    context: dict = field(default_factory=dict)

    @classmethod
    def from_validated(cls, data: dict) -> DecisionInput:
        return cls(**{k: v for k, v in data.items() if v is not None})


@dataclass(frozen=True)
class Caller:
    """The authentication result: which agent of which tenant is asking."""

    tenant: Any
    agent: Any


@dataclass(frozen=True)
class PolicyRef:
    """The policy version a decision was made under (all empty when none applied)."""

    pack: str = ""
    version: str = ""
    digest: str = ""
    mode: str = ""

    def as_dict(self) -> dict:
        return {"pack": self.pack, "version": self.version, "digest": self.digest, "mode": self.mode}


NO_POLICY = PolicyRef()


@dataclass(frozen=True)
class RolloutSnapshot:
    """The resolved rollout, detached from the ORM so it can be cached between requests."""

    version_pk: int
    digest: str
    pack_id: str
    version: str
    mode: str


@dataclass(frozen=True)
class Resolution:
    """Output of resolve: the rollout in force, or the portal's own refusal when there is none."""

    rollout: RolloutSnapshot | None
    policy: PolicyRef
    mode: str
    refusal: Verdict | None = None


@dataclass(frozen=True)
class Judgement:
    """The answer so far. `from_policy`: audit_only may soften it (never a registry or portal verdict)."""

    verdict: Verdict
    from_policy: bool
    registry_blocks: bool = False
    would_have: dict | None = None

    @property
    def decision(self) -> str:
        return self.verdict.decision


@dataclass(frozen=True)
class ApprovalUse:
    """Output of the approval step: the judgement after an approval_id was checked, and that approval."""

    judgement: Judgement
    approval: Any = None


@dataclass
class DecisionOutcome:
    """What the record step wrote; the serializer turns it into the response body."""

    decision: Any
    approval: Any = None
    # The evidence record's id and leaf hash are known at once; seq and hash once the leaf is integrated.
    evidence_id: str | None = None
    leaf_hash: str | None = None
    evidence_seq: int | None = None
    evidence_hash: str | None = None
    would_have: dict | None = None
