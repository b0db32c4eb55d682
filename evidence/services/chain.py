"""Appending a fact to a tenant's evidence log: a leaf in the caller's transaction, sequenced later."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from cavra_engine.evidence.canonical import (
    CanonicalizationError,
    canonicalize,
    normalize,
)
from cavra_engine.evidence.leaf import leaf_hash
from core.events import Fact, fact_announce
from evidence.models import EvidenceLeaf
from evidence.services.common import EvidenceError, actor_label, leaf_document
from evidence.services.sequencer import evidence_integrate, sequencer_inline
from tenants.models import Tenant


def evidence_append(
    *, tenant: Tenant, kind: str, subject: str, payload: dict, actor=None, with_row=None
) -> EvidenceLeaf:
    """Record one fact as a leaf of the tenant's log, inside the caller's transaction; no chain lock.

    The leaf commits (durably) with the fact; the tenant's sequencer integrates it into the chain
    (seq, prev_hash, hash) afterwards, in order of integration. With CAVRA_EVIDENCE_SEQUENCER="inline"
    (the demo and the tests) it is integrated right here, under the chain lock, and `leaf.record` is the
    integrated EvidenceRecord; with "process" (production) `leaf.record` is None until the sequencer ran.
    Payload members `session`, `agent`, `repository` and `decision` (strings) are indexed for search.
    `with_row`: an unsaved model instance (the fact, e.g. a Decision) inserted in the same statement.
    """
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("evidence_append must run inside the caller's transaction.atomic() block")
    if not kind or not isinstance(kind, str):
        raise EvidenceError("kind is required")
    try:
        payload = normalize(payload)
    except CanonicalizationError as exc:
        raise EvidenceError(f"payload cannot be recorded as evidence: {exc}")
    if not isinstance(payload, dict):
        raise EvidenceError("payload must be a JSON object")
    payload_json = canonicalize(payload).decode("utf-8")
    if "\\u0000" in payload_json:
        raise EvidenceError("payload contains a NUL character, which the database cannot store")
    leaf = EvidenceLeaf(
        tenant=tenant,
        kind=kind[:100],
        subject=(subject or "")[:300],
        payload=payload,
        actor=actor_label(actor),
        created_at=timezone.now(),
    )
    leaf.leaf_hash = leaf_hash(leaf_document(leaf))
    # Listeners (connectors) write their outbox rows in this transaction (core.events).
    fact_announce(Fact(tenant, leaf.kind, leaf.subject, payload, leaf.public_id, leaf.created_at))
    if connection.vendor == "postgresql":
        _insert_leaf_postgresql(connection, leaf, payload_json, with_row)
    else:
        leaf.save(force_insert=True)
        if with_row is not None:
            with_row.save(force_insert=True)
    leaf.record = None
    if sequencer_inline():
        leaf.record = evidence_integrate(tenant_id=tenant.pk, until_leaf=leaf)
    return leaf


# One round trip, no lock: the tenant foreign key is checked at commit like every other row's.
_INSERT_LEAF = (
    "INSERT INTO evidence_evidenceleaf (tenant_id, public_id, kind, subject, payload, actor, created_at, leaf_hash)"
    " VALUES (%s, %s, %s, %s, %s::jsonb, %s, %s, %s) RETURNING id"
)


def _insert_leaf_postgresql(connection, leaf: EvidenceLeaf, payload_json: str, with_row=None) -> None:
    params = [leaf.tenant_id, leaf.public_id, leaf.kind, leaf.subject, payload_json, leaf.actor,
              leaf.created_at, leaf.leaf_hash]  # fmt: skip
    with connection.cursor() as cursor:
        if with_row is None:
            cursor.execute(_INSERT_LEAF, params)
            leaf.pk = cursor.fetchone()[0]
        else:  # the fact and its leaf in one statement: one round trip for both rows
            row_sql, row_params = _insert_statement(connection, with_row)
            cursor.execute(
                f"WITH leaf AS ({_INSERT_LEAF}) {row_sql}, (SELECT id FROM leaf)", params + row_params
            )
            with_row.pk, leaf.pk = cursor.fetchone()
            with_row._state.adding, with_row._state.db = False, connection.alias
    leaf._state.adding = False
    leaf._state.db = connection.alias


def _insert_statement(connection, row) -> tuple[str, list]:
    """Django's own INSERT for `row` (every concrete field but the auto primary key) ending in RETURNING pk."""
    from django.db.models.sql import InsertQuery

    meta = row._meta
    fields = [f for f in meta.local_concrete_fields if f is not meta.auto_field]
    query = InsertQuery(type(row))
    query.insert_values(fields, [row])
    compiler = query.get_compiler(connection=connection)
    compiler.returning_fields = [meta.pk]
    [(sql, params)] = compiler.as_sql()
    return sql, list(params)


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
