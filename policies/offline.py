"""Offline decisions uploaded from an agent's spool (`cavra sync`): each becomes a Decision, marked
offline, with its evidence record; an entry already uploaded is recognised by its spool hash and
recorded once, however often the spool is sent."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.dateparse import parse_datetime

from cavra_engine.agents.bundle import GENESIS, SPOOL_TYPE
from cavra_engine.evidence.canonical import CanonicalizationError, canonicalize
from evidence.models import Decision, EvidenceRecord
from evidence.services import evidence_append
from evidence.services.common import _lock_head  # the tenant chain lock: serialises the duplicate check
from policies.decide import ACTIONS

MAX_ENTRIES = 500
VERDICTS = ("allow", "block", "require_approval")
KIND = "decision.offline"


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
            EvidenceRecord.objects.filter(
                tenant=tenant, kind=KIND, subject__in=[e["hash"] for e in entries]
            ).values_list("subject", "decision_row__public_id")
        )
        for entry in entries:
            if entry["hash"] in known:
                results.append(SyncedEntry(entry["seq"], entry["hash"], known[entry["hash"]] or "", True))
                continue
            request, policy = entry["request"], entry.get("policy") or {}
            decision = Decision(
                tenant=tenant,
                agent_ref=agent.public_id,
                action=request["action"],
                target=request["target"][:10000],
                repository=str(request.get("repository") or "")[:300],
                environment=str(request.get("environment") or "")[:100],
                decision=entry["decision"],
                rule_id=str(entry.get("rule_id") or "")[:200],
                severity=str(entry.get("severity") or "")[:20],
                reason=str(entry.get("reason") or ""),
                policy_pack=str(policy.get("pack") or "")[:200],
                policy_version=str(policy.get("version") or "")[:50],
                policy_digest=str(policy.get("digest") or "")[:80],
                policy_mode=str(policy.get("mode") or "")[:20],
                created_at=parse_datetime(entry["decided_at"]),
                context={
                    "offline": True,
                    "spool": {"seq": entry["seq"], "hash": entry["hash"], "bundle": entry.get("bundle")},
                    "request_context": request.get("context") or {},
                    "mcp": request.get("mcp"),
                },  # fmt: skip
            )
            record = evidence_append(
                tenant=tenant,
                kind=KIND,
                subject=entry["hash"],
                actor=f"agent:{agent.public_id}",
                payload={
                    "decision_id": decision.public_id,
                    "agent": agent.public_id,
                    "offline": True,
                    "decided_at": entry["decided_at"],
                    "spool": {
                        "seq": entry["seq"],
                        "hash": entry["hash"],
                        "prev_hash": entry["prev_hash"],
                        "bundle": entry.get("bundle"),
                    },  # fmt: skip
                    "action": request["action"],
                    "target": request["target"][:10000],
                    "repository": request.get("repository"),
                    "decision": entry["decision"],
                    "rule_id": entry.get("rule_id"),
                    "policy": policy,
                },
            )
            decision.evidence = record
            decision.save(force_insert=True)
            results.append(SyncedEntry(entry["seq"], entry["hash"], decision.public_id, False))
    return results
