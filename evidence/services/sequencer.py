"""The tenant's sequencer: integrates committed evidence leaves into the hash chain, one batch per transaction.

Single writer per tenant: a sequencer process leads a tenant while it holds the PostgreSQL advisory
lock (SEQUENCER_LOCK_CLASS, tenant id) on its session; every batch also takes the chain head's row
lock, so two integrators (a leader and an inline writer, or a stale leader) can never interleave.
A batch inserts the records, deletes their leaves and moves the head in one transaction: a crash
before COMMIT leaves the leaves pending (integrated at restart), after it leaves none (no duplicate).
"""

from __future__ import annotations

import time
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Min
from django.utils import timezone

from core.metrics import sequencer_batch_observed
from evidence.kinds import DECISION_RECORDED
from evidence.models import ChainHead, Decision, EvidenceLeaf, EvidenceRecord
from evidence.services.common import _hash_of, _lock_head, _text, record_document
from tenants.models import Tenant

SEQUENCER_LOCK_CLASS = (
    1129730897  # "CVSQ": the first key of the two-int advisory lock; the second is tenant id
)
DEFAULT_BATCH = 1000


def sequencer_inline() -> bool:
    """Integrate in the writer's own transaction (demo, tests) rather than in the sequencer process."""
    return getattr(settings, "CAVRA_EVIDENCE_SEQUENCER", "inline") == "inline"


def evidence_integrate(
    *, tenant_id: int, limit: int = DEFAULT_BATCH, until_leaf=None, observe=None
) -> EvidenceRecord | int | None:
    """Integrate up to `limit` committed leaves of one tenant, oldest first, in one transaction.

    Returns the number integrated; with `until_leaf` (the inline writer) returns that leaf's record.
    `observe(delays)` receives, after COMMIT, each leaf's integration delay in seconds (metrics, benches).
    """
    with transaction.atomic():
        head = _lock_head(Tenant.objects.only("id", "slug").get(pk=tenant_id))
        leaves = list(EvidenceLeaf.objects.filter(tenant_id=tenant_id).order_by("id")[:limit])
        records = _chain(head, leaves)
        if records:
            EvidenceRecord.objects.bulk_create(records)
            EvidenceLeaf.objects.filter(pk__in=[leaf.pk for leaf in leaves]).delete()
            ChainHead.objects.filter(pk=head.pk).update(
                seq=records[-1].seq, head_hash=records[-1].hash, updated_at=timezone.now()
            )
            _link_decisions(tenant_id, records)
    if records:
        now = timezone.now()
        delays = [(now - leaf.created_at).total_seconds() for leaf in leaves]
        sequencer_batch_observed(delays)
        if observe is not None:
            observe(delays)
    if until_leaf is not None:
        return next((r for r in records if r.public_id == until_leaf.public_id), None)
    return len(records)


def _chain(head: ChainHead, leaves: list[EvidenceLeaf]) -> list[EvidenceRecord]:
    seq, prev, records = head.seq, head.head_hash, []
    for leaf in leaves:
        seq += 1
        payload = leaf.payload
        record = EvidenceRecord(
            tenant_id=leaf.tenant_id,
            public_id=leaf.public_id,
            seq=seq,
            kind=leaf.kind,
            subject=leaf.subject,
            payload=payload,
            actor=leaf.actor,
            created_at=leaf.created_at,
            prev_hash=prev,
            session_ref=_text(payload.get("session"), 64),
            agent_ref=_text(payload.get("agent"), 64),
            repository=_text(payload.get("repository"), 300),
            decision=_text(payload.get("decision"), 32),
        )
        record.hash = _hash_of(record_document(record, head.tenant_label))
        prev = record.hash
        records.append(record)
    return records


def _link_decisions(tenant_id: int, records: list[EvidenceRecord]) -> None:
    """Decision rows committed with their leaf get their evidence link now (one UPDATE per batch)."""
    by_subject = {r.subject: r for r in records if r.kind == DECISION_RECORDED}
    if not by_subject:
        return
    rows = list(
        Decision.objects.filter(tenant_id=tenant_id, public_id__in=list(by_subject), evidence__isnull=True)
    )
    for row in rows:
        row.evidence_id = by_subject[row.public_id].pk
    if rows:
        Decision.objects.bulk_update(rows, ["evidence"])


def evidence_integrate_all(*, limit: int = DEFAULT_BATCH) -> int:
    """Integrate every pending leaf of every tenant (tests, `cavra_sequencer --once`, the demo)."""
    total = 0
    while True:
        tenant_ids = list(EvidenceLeaf.objects.values_list("tenant_id", flat=True).distinct())
        if not tenant_ids:
            return total
        for tenant_id in tenant_ids:
            total += evidence_integrate(tenant_id=tenant_id, limit=limit)


def sequencer_lead(tenant_id: int) -> bool:
    """Try to become (or stay) this tenant's sequencer: the session-level advisory lock, never waited for."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [SEQUENCER_LOCK_CLASS, tenant_id])
        return bool(cursor.fetchone()[0])


def sequencer_backlog() -> dict[int, tuple[int, datetime]]:
    """Pending leaves per tenant id: (count, oldest created_at). The lag a metric and the doctor show."""
    rows = EvidenceLeaf.objects.values("tenant_id").annotate(n=Count("id"), oldest=Min("created_at"))
    return {row["tenant_id"]: (row["n"], row["oldest"]) for row in rows}


def sequencer_step(*, batch: int = DEFAULT_BATCH, observe=None) -> int:
    """One pass: for each tenant with pending leaves that this process leads (or can lead), integrate a batch."""
    integrated = 0
    for tenant_id in EvidenceLeaf.objects.values_list("tenant_id", flat=True).distinct():
        if sequencer_lead(tenant_id):
            integrated += evidence_integrate(tenant_id=tenant_id, limit=batch, observe=observe)
    return integrated


def sequencer_run(
    *, interval: float = 0.02, batch: int = DEFAULT_BATCH, should_stop=lambda: False, log=None, observe=None
) -> None:
    """The sequencer process's loop: integrate while there is work, poll every `interval` seconds when idle.

    A database outage drops the connection and with it every lead; the loop reconnects and takes the
    leads again, so leaves committed meanwhile are integrated once the database is back.
    """
    while not should_stop():
        try:
            worked = sequencer_step(batch=batch, observe=observe)
        except DatabaseError as exc:
            if log:
                log(f"database unavailable ({str(exc).strip()[:120]}); retrying")
            connection.close()
            time.sleep(1.0)
            continue
        if not worked:
            time.sleep(interval)


SEQUENCER_LAG_LIMIT = 5.0  # seconds a committed leaf may wait before readiness calls the sequencer down


def sequencer_health() -> tuple[str, str]:
    """(OK|FAIL, detail) for readiness: decisions never wait on the sequencer, so a stall must be seen here."""
    if sequencer_inline():
        return "OK", "inline: leaves are integrated in the writer's transaction (demo/test mode)"
    backlog = sequencer_backlog()
    if not backlog:
        return "OK", "no leaves pending"
    pending = sum(n for n, _ in backlog.values())
    lag = (timezone.now() - min(oldest for _, oldest in backlog.values())).total_seconds()
    if lag > SEQUENCER_LAG_LIMIT:
        return "FAIL", f"{pending} leaves pending, oldest {lag:.1f}s: the sequencer is down or behind"
    return "OK", f"{pending} leaves pending, oldest {lag:.2f}s"
