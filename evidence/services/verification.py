"""Verifying a tenant's chain and checkpoints in the database, recording each run."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.utils import timezone

from cavra_engine.evidence import merkle
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
    MerkleTree,
    VerificationRun,
)
from evidence.services.common import PROBLEM_LIMIT, EvidenceError, checkpoint_document, utc_timestamp
from evidence.services.merkle import merkle_frontier
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


class _TreeWalk:
    """The RFC 9162 tree rebuilt from the walked records: every signed tree head's root is recomputed, and
    the stored tree that proofs are served from is compared with it when the walk passes its size."""

    def __init__(self, frontier: merkle.Frontier, stored: tuple[int, list[str]] | None):
        self.frontier = frontier
        self.stored = stored
        self.problems: list[tuple[int, str]] = []

    @classmethod
    def starting_at(cls, tenant: Tenant, start: int, anchor: Checkpoint | None) -> _TreeWalk | None:
        """From the empty tree at seq 1; later, from the stored frontier (checked against the cut's root)."""
        stored = MerkleTree.objects.filter(tenant=tenant).values_list("size", "frontier").first()
        if start == 1:
            return cls(merkle.Frontier(), stored)
        try:
            walk = cls(merkle.Frontier(start - 1, merkle_frontier(tenant=tenant, size=start - 1)), stored)
        except EvidenceError:
            return None  # the tree never reached this far (records purged before it existed): chain only
        if anchor is not None and anchor.root_hash and walk.frontier.root().hex() != anchor.root_hash:
            walk.problems.append((anchor.seq, f"The stored Merkle tree at #{anchor.seq} does not give the root "
                                  "the checkpoint signed: the tree was altered."))  # fmt: skip
        return walk

    def add(self, seq: int, record_hash: str) -> None:
        if seq != self.frontier.size + 1:  # after a gap (reported by the walk) nothing more is compared
            return
        self.frontier.append(merkle.leaf_hash(bytes.fromhex(record_hash)))
        if self.stored is not None and self.stored[0] == seq:
            if list(self.stored[1]) != [h.hex() for h in self.frontier.hashes]:
                self.problems.append((seq, f"The stored Merkle tree (size {seq}) does not match the records: "
                                      "proofs served from it would not verify."))  # fmt: skip

    def check_root(self, checkpoint: Checkpoint) -> None:
        if not checkpoint.root_hash or self.frontier.size != checkpoint.seq:
            return
        root = self.frontier.root().hex()
        if root != checkpoint.root_hash:
            self.problems.append((checkpoint.seq, f"Signed tree head at record #{checkpoint.seq} has Merkle root "
                                  f"{checkpoint.root_hash[:16]}…, but the records give {root[:16]}…: records "
                                  "were changed, removed or reordered."))  # fmt: skip


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
    tree = _TreeWalk.starting_at(tenant, start, checkpoints.get(start - 1))
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
        if tree is not None:
            tree.add(seq, stored)
        if seq in checkpoints:
            _verify_checkpoint(checkpoints[seq], label, stored, walk)
            if tree is not None:
                tree.check_root(checkpoints[seq])
        expected_prev, expected_seq, last_hash = stored, seq + 1, stored
    if start - 1 in checkpoints:
        _verify_checkpoint(checkpoints[start - 1], label, None, walk)
    for seq, message in tree.problems if tree is not None else ():
        walk.add(seq, message)
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
        f"All {count} records from #{start} to #{end} verified; {len(checkpoints)} checkpoint signatures valid"
        + ("; Merkle roots recomputed." if tree is not None else "; no Merkle tree this far back.")
        if run.ok else walk.problems[0]["message"]
    )  # fmt: skip
    run.finished_at = timezone.now()
    run.save()
    return run
