"""Appending to a tenant's hash chain under its head lock, with durability awaited after commit."""

from __future__ import annotations

from functools import partial

from django.db import transaction
from django.utils import timezone

from cavra_engine.evidence.canonical import (
    CanonicalizationError,
    canonicalize,
    normalize,
)
from core.events import Fact, fact_announce
from evidence.models import (
    ChainHead,
    EvidenceRecord,
)
from evidence.services.common import EvidenceError, _hash_of, _lock_head, _text, actor_label, record_document
from tenants.models import Tenant


def evidence_append(*, tenant: Tenant, kind: str, subject: str, payload: dict, actor=None) -> EvidenceRecord:
    """Append one record to the tenant's chain, inside the caller's transaction.

    The row lock on the chain head serialises appends per tenant until the caller commits, so seqs are
    gapless, every prev_hash is the committed head, and records become visible strictly in seq order.
    Payload members `session`, `agent`, `repository` and `decision` (strings) are indexed for search.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("evidence_append must run inside the caller's transaction.atomic() block")
    if not kind or not isinstance(kind, str):
        raise EvidenceError("kind is required")
    try:
        payload = normalize(payload)
    except CanonicalizationError as exc:
        raise EvidenceError(f"payload cannot be recorded as evidence: {exc}")
    if not isinstance(payload, dict):
        raise EvidenceError("payload must be a JSON object")
    if "\\u0000" in canonicalize(payload).decode("utf-8"):
        raise EvidenceError("payload contains a NUL character, which the database cannot store")
    record = EvidenceRecord(
        tenant=tenant,
        kind=kind[:100],
        subject=(subject or "")[:300],
        payload=payload,
        actor=actor_label(actor),
        session_ref=_text(payload.get("session"), 64),
        agent_ref=_text(payload.get("agent"), 64),
        repository=_text(payload.get("repository"), 300),
        decision=_text(payload.get("decision"), 32),
    )
    # Listeners (connectors) write their outbox rows now, before the chain lock is taken, so they
    # do not lengthen the time the tenant's chain is locked.
    fact_announce(Fact(tenant, record.kind, record.subject, payload, record.public_id, timezone.now()))
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        return _append_postgresql(connection, record)
    head = _lock_head(tenant)
    record.seq, record.prev_hash, record.created_at = head.seq + 1, head.head_hash, timezone.now()
    record.hash = _hash_of(record_document(record, head.tenant_label))
    record.save(force_insert=True)
    ChainHead.objects.filter(pk=head.pk).update(
        seq=record.seq, head_hash=record.hash, updated_at=record.created_at
    )
    return record


# The chain lock is held from this statement until commit. The commit itself does not wait for the WAL
# flush (synchronous_commit off for this transaction only), so the lock is not held through an fsync;
# durability is awaited right after commit, outside the lock, by _await_durability: concurrent appends
# then share WAL flushes (group commit) instead of queueing one fsync each behind the lock.
_ADVANCE_HEAD = (
    "UPDATE evidence_chainhead SET seq = seq + 1"
    " FROM (SELECT set_config('synchronous_commit', 'off', true)) AS relaxed"
    " WHERE tenant_id = %s RETURNING seq, head_hash, tenant_label"
)
_INSERT_AND_MOVE_HEAD = """
WITH ins AS (
    INSERT INTO evidence_evidencerecord
        (tenant_id, public_id, seq, kind, subject, payload, actor, created_at, prev_hash, hash,
         session_ref, agent_ref, repository, decision)
    VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s, %s, %s)
    RETURNING id
)
UPDATE evidence_chainhead SET head_hash = %s, updated_at = %s FROM ins WHERE tenant_id = %s RETURNING ins.id
"""


def _append_postgresql(connection, record: EvidenceRecord) -> EvidenceRecord:
    """The hot path: two round trips while the tenant's chain is locked (the lock lasts until commit).

    The first statement locks the head row and takes the next seq; the hash is computed in between;
    the second inserts the record and moves the head hash. Everything else happens before the lock.
    """
    payload_json = canonicalize(record.payload).decode("utf-8")
    tenant_id = record.tenant_id
    # One durability wait per transaction; a rolled-back transaction drops it with its other callbacks.
    if not any(getattr(entry[1], "cavra_durability", False) for entry in connection.run_on_commit):
        barrier = partial(_await_durability, connection)
        barrier.cavra_durability = True
        connection.on_commit(barrier)
    with connection.cursor() as cursor:
        cursor.execute(_ADVANCE_HEAD, [tenant_id])
        row = cursor.fetchone()
        if row is None:
            _lock_head(record.tenant)  # first record of this tenant: create the head row, then retry
            cursor.execute(_ADVANCE_HEAD, [tenant_id])
            row = cursor.fetchone()
        record.seq, record.prev_hash, label = row
        record.created_at = timezone.now()
        record.hash = _hash_of(record_document(record, label))
        cursor.execute(
            _INSERT_AND_MOVE_HEAD,
            [tenant_id, record.public_id, record.seq, record.kind, record.subject, payload_json, record.actor,
             record.created_at, record.prev_hash, record.hash, record.session_ref, record.agent_ref,
             record.repository, record.decision, record.hash, record.created_at, tenant_id],
        )  # fmt: skip
        record.pk = cursor.fetchone()[0]
    record._state.adding = False
    record._state.db = connection.alias
    return record


def _await_durability(connection) -> None:
    """Return only once the committed evidence is on disk.

    A transaction that is assigned an xid writes a commit record and, with the session's default
    synchronous_commit=on, waits until the WAL is flushed up to it; WAL is flushed in order, so the
    evidence committed just before is durable too. Many writers' waits are served by one flush.
    The caller (e.g. the decision API) answers only after this returns.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT txid_current()")


def _json_safe(value):
    """Audit payloads come from model snapshots; anything outside the evidence subset becomes text."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if abs(value) <= 2**53 - 1 else str(value)
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) <= 2**53 - 1 else repr(value)
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    return str(value)


def evidence_audit_sink(*, tenant, kind, subject, payload, actor=None) -> None:
    """Registered with tenants.audit: role and admin changes land in the chain in the same transaction."""
    evidence_append(tenant=tenant, kind=kind, subject=subject, payload=_json_safe(payload), actor=actor)
