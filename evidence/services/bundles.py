"""Exporting an evidence bundle that verifies offline."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Max, Min, Q
from django.utils import timezone

from cavra_engine.evidence.bundle import (
    build_bundle,
)
from cavra_engine.evidence.canonical import (
    canonicalize,
)
from core.authz import authorize_actor
from evidence import kinds
from evidence.models import (
    ChainHead,
    Checkpoint,
    EvidenceRecord,
)
from evidence.services.chain import evidence_append
from evidence.services.checkpoints import checkpoint_create, signing_key_current, trust_root_export
from evidence.services.common import (
    BUNDLE_MAX_RECORDS,
    MATCHED_SEQS_LIMIT,
    EvidenceError,
    checkpoint_document,
    utc_timestamp,
)
from evidence.services.merkle import merkle_consistency_proof, merkle_frontier
from evidence.signing import decrypt_private_key
from tenants.models import Tenant


def _merkle_material(tenant: Tenant, checkpoints: list[dict], first: int, last: int, latest: int) -> dict:
    """The frontier before the bundle and the proof that the latest head extends the bundle's end; null
    when the bundle holds no signed tree head (checkpoints made before the tree existed)."""
    if not any("root_hash" in cp for cp in checkpoints):
        return {"frontier": None, "consistency": None}
    frontier = merkle_frontier(tenant=tenant, size=first - 1)
    consistency = merkle_consistency_proof(tenant=tenant, first=last, second=latest) if latest > last else []
    return {"frontier": [h.hex() for h in frontier], "consistency": [h.hex() for h in consistency]}


@dataclass
class BundleExport:
    filename: str
    data: bytes
    first_seq: int
    last_seq: int
    record_count: int
    matched: int


def bundle_export(
    *, tenant: Tenant, actor=None, since: datetime | None = None, until: datetime | None = None,
    session: str = "", agent: str = "", repository: str = "", first_seq: int | None = None, last_seq: int | None = None,
) -> BundleExport:  # fmt: skip
    """Export the records matching a selection, plus everything needed to verify them offline.

    The bundle holds the contiguous seq range from the first matching record to the first checkpoint at
    or after the last one (so the chain links and is signed end to end); the manifest lists the matches.
    """
    authorize_actor(actor, tenant, "evidence.export")
    selection = {
        "since": utc_timestamp(since) if since else None, "until": utc_timestamp(until) if until else None,
        "session": session or None, "agent": agent or None, "repository": repository or None,
        "first_seq": first_seq, "last_seq": last_seq,
    }  # fmt: skip
    matched_qs = EvidenceRecord.objects.filter(tenant=tenant)
    if since:
        matched_qs = matched_qs.filter(created_at__gte=since)
    if until:
        matched_qs = matched_qs.filter(created_at__lt=until)
    if session:
        matched_qs = matched_qs.filter(session_ref=session)
    if agent:
        matched_qs = matched_qs.filter(agent_ref=agent)
    if repository:
        matched_qs = matched_qs.filter(repository=repository)
    if first_seq is not None:
        matched_qs = matched_qs.filter(seq__gte=first_seq)
    if last_seq is not None:
        matched_qs = matched_qs.filter(seq__lte=last_seq)
    # Read before the selection: any checkpoint made later is at or after the cover checkpoint below.
    latest_before = Checkpoint.objects.filter(tenant=tenant).aggregate(seq=Max("seq"))["seq"] or 0
    span = matched_qs.aggregate(lo=Min("seq"), hi=Max("seq"))
    if span["lo"] is None:
        raise EvidenceError("No evidence records match this selection.")
    cover = (
        Checkpoint.objects.filter(tenant=tenant, seq__gte=span["hi"])
        .order_by("seq")
        .select_related("key")
        .first()
    )
    if cover is None:
        cover = checkpoint_create(tenant=tenant, reason=Checkpoint.Reason.EXPORT)
    # v2: the range starts right after the last checkpoint before the first match (or at seq 1), so the
    # first record's prev_hash is anchored by a signed checkpoint; the latest checkpoint rides along so a
    # verifier can tell a bundle cut short (docs/evidence-format.md section 5).
    anchor = (
        Checkpoint.objects.filter(tenant=tenant, seq__lt=span["lo"]).aggregate(seq=Max("seq"))["seq"] or 0
    )
    latest = max(latest_before, cover.seq)
    first, last = anchor + 1, cover.seq
    if last - first + 1 > BUNDLE_MAX_RECORDS:
        raise EvidenceError(
            f"This selection spans {last - first + 1} records; export at most {BUNDLE_MAX_RECORDS} at a time (narrow the time range)."
        )
    matched = matched_qs.count()
    narrow = bool(session or agent or repository)
    matched_seqs = (
        list(matched_qs.order_by("seq").values_list("seq", flat=True)[:MATCHED_SEQS_LIMIT])
        if narrow
        else None
    )
    head = ChainHead.objects.get(tenant=tenant)
    lines = []
    count = 0
    fields = ("public_id", "seq", "kind", "subject", "payload", "actor", "created_at", "prev_hash", "hash")
    for public_id, seq, kind, subject, payload, actor_text, created_at, prev_hash, stored in (
        EvidenceRecord.objects.filter(tenant=tenant, seq__gte=first, seq__lte=last).order_by("seq").values_list(*fields).iterator(chunk_size=5000)
    ):  # fmt: skip
        lines.append(canonicalize({"id": public_id, "tenant": head.tenant_label, "seq": seq, "kind": kind, "subject": subject,
                                   "payload": payload, "actor": actor_text, "created_at": utc_timestamp(created_at),
                                   "prev_hash": prev_hash, "hash": stored}))  # fmt: skip
        count += 1
    lines.append(b"")
    in_range = Q(seq__gte=first - 1, seq__lte=last) | Q(seq=latest)
    checkpoints = [checkpoint_document(cp, head.tenant_label) for cp in
                   Checkpoint.objects.filter(in_range, tenant=tenant).order_by("seq").select_related("key")]  # fmt: skip
    key = signing_key_current(tenant)
    now = timezone.now()
    data = build_bundle(
        tenant=head.tenant_label, created_at=utc_timestamp(now), records_jsonl=b"\n".join(lines), checkpoints=checkpoints,
        trust_root=trust_root_export(tenant), first_seq=first, last_seq=last, record_count=count,
        selection={"filter": selection, "matched": matched, "matched_seqs": matched_seqs},
        private_key=decrypt_private_key(key.private_key_encrypted, key_id=key.key_id),
        chain={"checkpoint_seqs": [cp["seq"] for cp in checkpoints], "latest_checkpoint": latest,
               **_merkle_material(tenant, checkpoints, first, last, latest)},
    )  # fmt: skip
    with transaction.atomic():
        evidence_append(
            tenant=tenant, kind=kinds.BUNDLE_EXPORTED, subject=f"seq:{first}-{last}", actor=actor,
            payload={"filter": {k: v for k, v in selection.items() if v is not None}, "first_seq": first, "last_seq": last,
                     "records": count, "matched": matched, "sha256": hashlib.sha256(data).hexdigest()},
        )  # fmt: skip
    filename = f"evidence-{head.tenant_label}-{first}-{last}-{now:%Y%m%dT%H%M%SZ}.zip"
    return BundleExport(filename, data, first, last, count, matched)
