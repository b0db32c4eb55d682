"""Verifying a tenant's chain and checkpoints in the database, recording each run."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.utils import timezone

from cavra_engine.evidence.bundle import (
    checkpoint_message,
)
from cavra_engine.evidence.canonical import (
    GENESIS_HASH,
    CanonicalizationError,
    canonicalize,
    sha256_hex,
)
from evidence.models import (
    ChainHead,
    Checkpoint,
    EvidenceRecord,
    VerificationRun,
)
from evidence.services.common import PROBLEM_LIMIT, checkpoint_document, utc_timestamp
from tenants.models import Tenant


@dataclass
class _Walk:
    problems: list[dict]

    def add(self, seq: int | None, message: str) -> None:
        if len(self.problems) < PROBLEM_LIMIT:
            self.problems.append({"seq": seq, "message": message})


def _verify_checkpoint(cp: Checkpoint, tenant_label: str, record_hash: str | None, walk: _Walk) -> None:
    document = checkpoint_document(cp, tenant_label)
    key = cp.key
    when = cp.created_at
    if when < key.valid_from or (key.valid_until is not None and when >= key.valid_until):
        walk.add(
            cp.seq,
            f"Checkpoint at record #{cp.seq} was signed at {utc_timestamp(when)}, outside the validity of key {key.key_id}.",
        )
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(key.public_key)).verify(
            bytes.fromhex(cp.signature), checkpoint_message(document)
        )
    except (InvalidSignature, ValueError):
        walk.add(cp.seq, f"Checkpoint at record #{cp.seq} has a bad signature: it was altered after signing.")
    if record_hash is not None and record_hash != cp.head_hash:
        walk.add(
            cp.seq,
            f"Checkpoint at record #{cp.seq} signed a different head hash than the record now holds: the chain was rewritten up to here.",
        )


def chain_verify(
    *, tenant: Tenant, first_seq: int | None = None, last_seq: int | None = None,
    trigger: str = VerificationRun.Trigger.ON_DEMAND, requested_by=None,
) -> VerificationRun:  # fmt: skip
    """Re-walk the chain (or [first_seq, last_seq]) from the database and record what was found."""
    head = ChainHead.objects.filter(tenant=tenant).first()
    run = VerificationRun(
        tenant=tenant,
        trigger=trigger,
        requested_by=requested_by if getattr(requested_by, "pk", None) else None,
    )
    walk = _Walk([])
    label = head.tenant_label if head else tenant.slug
    full = first_seq is None and last_seq is None
    start = first_seq if first_seq is not None else (head.purged_through + 1 if head else 1)
    end = last_seq if last_seq is not None else (head.seq if head else 0)
    checkpoints = {
        cp.seq: cp
        for cp in Checkpoint.objects.filter(tenant=tenant, seq__gte=start - 1, seq__lte=end).select_related(
            "key"
        )
    }
    if start == 1:
        expected_prev = GENESIS_HASH
    elif start - 1 in checkpoints:
        expected_prev = checkpoints[start - 1].head_hash
    else:
        expected_prev = (
            EvidenceRecord.objects.filter(tenant=tenant, seq=start - 1).values_list("hash", flat=True).first()
        )
    expected_seq, count, last_hash = start, 0, None
    fields = ("public_id", "seq", "kind", "subject", "payload", "actor", "created_at", "prev_hash", "hash")
    rows = (
        EvidenceRecord.objects.filter(tenant=tenant, seq__gte=start, seq__lte=end)
        .order_by("seq")
        .values_list(*fields)
    )
    for public_id, seq, kind, subject, payload, actor, created_at, prev_hash, stored in rows.iterator(
        chunk_size=5000
    ):
        count += 1
        if seq != expected_seq:
            gap = (
                f"Record #{expected_seq} is"
                if seq == expected_seq + 1
                else f"Records #{expected_seq} to #{seq - 1} are"
            )
            walk.add(expected_seq, f"{gap} missing: the chain has a gap before record #{seq}.")
        document = {"id": public_id, "tenant": label, "seq": seq, "kind": kind, "subject": subject, "payload": payload,
                    "actor": actor, "created_at": utc_timestamp(created_at), "prev_hash": prev_hash}  # fmt: skip
        try:
            computed = sha256_hex(canonicalize(document))
        except CanonicalizationError as exc:
            computed = f"invalid: {exc}"
        if computed != stored:
            walk.add(
                seq,
                f"Record #{seq} was changed after it was written: its content no longer matches its hash.",
            )
        if expected_prev is not None and prev_hash != expected_prev:
            what = (
                "the retention checkpoint before it"
                if seq == start and start - 1 in checkpoints
                else f"record #{seq - 1}"
            )
            walk.add(seq, f"Broken link at record #{seq}: it does not point to the hash of {what}.")
        if seq in checkpoints:
            _verify_checkpoint(checkpoints[seq], label, stored, walk)
        expected_prev, expected_seq, last_hash = stored, seq + 1, stored
    if start - 1 in checkpoints:
        _verify_checkpoint(checkpoints[start - 1], label, None, walk)
    if expected_seq - 1 < end:
        gap = f"Record #{end} is" if expected_seq == end else f"Records #{expected_seq} to #{end} are"
        walk.add(expected_seq, f"{gap} missing at the end of the chain.")
    if full and head is not None and count and (head.head_hash != last_hash or head.seq != expected_seq - 1):
        walk.add(
            head.seq,
            f"The chain head says record #{head.seq} is the latest, but the stored records end at #{expected_seq - 1}.",
        )
    run.first_seq, run.last_seq = start, end
    run.records_checked, run.checkpoints_checked = count, len(checkpoints)
    run.problems = walk.problems
    run.ok = not walk.problems
    run.summary = (
        f"All {count} records from #{start} to #{end} verified; {len(checkpoints)} checkpoint signatures valid."
        if run.ok else walk.problems[0]["message"]
    )  # fmt: skip
    run.finished_at = timezone.now()
    run.save()
    return run
