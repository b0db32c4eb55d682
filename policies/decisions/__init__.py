"""The runtime decision: who is acting, what will change, what policy applies, what evidence proves it.

One step per module, each a small function over the typed values in `types`:
authenticate result (`Caller`) -> `resolve` the rollout -> `evaluate` the policy -> `registry_checks`
-> apply the rollout `mode` -> `approval` (binding digest, use or open) -> `record` (Decision +
evidence in one transaction) -> `serialize`; `idempotency` wraps it for the API (`pipeline`).

It never answers allow when it cannot decide: a missing rollout, an uncompilable policy or an
internal error becomes `block`, and a database that is unreachable surfaces as DecisionUnavailable
(HTTP 503, which every client treats as block).
"""

from __future__ import annotations

from policies.decisions.evaluate import compiled_policy
from policies.decisions.idempotency import IdempotencyRejected
from policies.decisions.pipeline import DecisionAnswer, decide, decision_answer
from policies.decisions.record import DecisionFacts, decision_record
from policies.decisions.resolve import rollout_resolve
from policies.decisions.serialize import decision_response
from policies.decisions.sessions import session_open
from policies.decisions.types import (
    Caller,
    DecisionInput,
    DecisionInputError,
    DecisionOutcome,
    DecisionUnavailable,
)

__all__ = [
    "Caller",
    "DecisionAnswer",
    "DecisionFacts",
    "DecisionInput",
    "DecisionInputError",
    "DecisionOutcome",
    "DecisionUnavailable",
    "IdempotencyRejected",
    "compiled_policy",
    "decide",
    "decision_answer",
    "decision_record",
    "decision_response",
    "rollout_resolve",
    "session_open",
]
