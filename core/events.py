"""Facts announced to listeners in the transaction that records them (connectors subscribe here).

The evidence chain calls `fact_announce` for every record it appends (decisions, approval events,
findings), so a higher app (connectors) hears about every fact without any lower app importing it.
A listener runs inside the caller's transaction: it may only write rows (an outbox message), never
talk to the outside, and it must be cheap (it sits on the decision path).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Fact:
    tenant: object
    kind: str  # the evidence kind: "decision.recorded", "approval.opened", "aispm.finding.opened", ...
    subject: str  # the public id it is about
    payload: dict
    record_id: str  # the evidence record's public id (evd_…): an idempotency key for what the fact causes
    created_at: datetime


FactListener = Callable[[Fact], None]
_listeners: list[FactListener] = []


def register_fact_listener(listener: FactListener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def fact_announce(fact: Fact) -> None:
    for listener in _listeners:
        listener(fact)
