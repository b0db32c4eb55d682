"""Offline decisions uploaded from an agent's spool (`cavra sync`): each is recorded by the one decision
writer (a Decision marked offline and its `decision.recorded` evidence); an entry already uploaded is
recognised by its spool hash and recorded once, however often the spool is sent."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.dateparse import parse_datetime

from cavra_engine.agents.bundle import GENESIS, SPOOL_TYPE
from cavra_engine.evidence.canonical import CanonicalizationError, canonicalize
from cavra_engine.policy import Verdict
from cavra_engine.policy.vocabulary import ACTIONS, VERDICTS
from evidence.models import Decision
from evidence.services.common import _lock_head  # the tenant chain lock: serialises the duplicate check
from policies.decisions.record import DecisionFacts, decision_record
from policies.decisions.types import DecisionInput, PolicyRef

MAX_ENTRIES = 500


@dataclass
class SyncedEntry:
    seq: int
    hash: str
    decision_id: str
    duplicate: bool


def _check(index: int, entry, agent, previous: str | None) -> None:
    where = f"entries[{index}]"
    if not isinstance(entry, dict) or entry.get("type") != SPOOL_TYPE:
        raise ValidationError({where: f"Not an offline spool entry (type must be {SPOOL_TYPE})."})
    try:
        digest = hashlib.sha256(canonicalize({k: v for k, v in entry.items() if k != "hash"})).hexdigest()
    except CanonicalizationError as exc:
        raise ValidationError({where: f"Not canonical JSON: {exc}"})
    if entry.get("hash") != digest:
        raise ValidationError({f"{where}.hash": "Does not match the entry: the spool was altered."})
    if previous is not None and entry.get("prev_hash") != previous:
        raise ValidationError({f"{where}.prev_hash": "Does not continue the previous entry's hash."})
    if not isinstance(entry.get("prev_hash"), str) or len(entry["prev_hash"]) != len(GENESIS):
        raise ValidationError({f"{where}.prev_hash": "Must be a SHA-256 in hex."})
    if entry.get("agent") != agent.public_id:
        raise ValidationError(
            {f"{where}.agent": "Entries may only be uploaded by the agent that decided them."}
        )
    if entry.get("decision") not in VERDICTS:
        raise ValidationError({f"{where}.decision": f"One of {', '.join(VERDICTS)}."})
    request = entry.get("request")
    if (
        not isinstance(request, dict)
        or request.get("action") not in ACTIONS
        or not isinstance(request.get("target"), str)
    ):
        raise ValidationError({f"{where}.request": "Needs an action and a target."})
    if not isinstance(entry.get("seq"), int) or parse_datetime(str(entry.get("decided_at") or "")) is None:
        raise ValidationError({f"{where}.seq": "Needs an integer seq and a decided_at time."})


def offline_decisions_sync(*, tenant, agent, entries) -> list[SyncedEntry]:
    """Validate the whole batch first (nothing is recorded if any entry is bad), then record the new ones."""
    if not isinstance(entries, list) or not entries:
        raise ValidationError({"entries": "Give a non-empty list of spool entries."})
    if len(entries) > MAX_ENTRIES:
        raise ValidationError({"entries": f"At most {MAX_ENTRIES} entries per request."})
    previous = None
    for index, entry in enumerate(entries):
        _check(index, entry, agent, previous)
        previous = entry["hash"]
    results = []
    with transaction.atomic():
        _lock_head(tenant)  # one upload at a time per tenant: the duplicate check below cannot race
        known = dict(
            Decision.objects.filter(
                tenant=tenant,
                agent_ref=agent.public_id,
                context__spool__hash__in=[e["hash"] for e in entries],
            ).values_list("context__spool__hash", "public_id")
        )
        for entry in entries:
            if entry["hash"] in known:
                results.append(SyncedEntry(entry["seq"], entry["hash"], known[entry["hash"]], True))
                continue
            request, policy = entry["request"], entry.get("policy") or {}
            data = DecisionInput(
                action=request["action"],
                target=request["target"],
                repository=str(request.get("repository") or "")[:300] or None,
                environment=str(request.get("environment") or "")[:100] or None,
                mcp=request.get("mcp") if isinstance(request.get("mcp"), dict) else None,
                context=request.get("context") if isinstance(request.get("context"), dict) else {},
            )
            verdict = Verdict(
                decision=entry["decision"],
                rule_id=str(entry.get("rule_id") or "")[:200] or None,
                severity=str(entry.get("severity") or "low")[:20],
                reason=str(entry.get("reason") or ""),
                normalised_target=request["target"],
            )
            facts = DecisionFacts(
                agent_ref=agent.public_id,
                agent_name=agent.name,
                data=data,
                verdict=verdict,
                policy=PolicyRef(
                    *(
                        str(policy.get(k) or "")[:n]
                        for k, n in (("pack", 200), ("version", 50), ("digest", 80), ("mode", 20))
                    )
                ),  # fmt: skip
                action_digest="",
                would_have=entry.get("audit_only"),
                offline={
                    "seq": entry["seq"],
                    "hash": entry["hash"],
                    "prev_hash": entry["prev_hash"],
                    "bundle": entry.get("bundle"),
                    "decided_at": entry["decided_at"],
                },  # fmt: skip
            )
            outcome = decision_record(tenant=tenant, facts=facts)
            results.append(SyncedEntry(entry["seq"], entry["hash"], outcome.decision.public_id, False))
    return results
