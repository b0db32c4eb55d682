"""Synthetic chains and bundles for tests and benchmarks (same code path as real exports)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import merkle
from .bundle import build_bundle, public_key_raw, sign_checkpoint, trust_root_document
from .canonical import GENESIS_HASH, canonicalize

EMPTY_FILTER = {"since": None, "until": None, "session": None, "agent": None, "repository": None,
                "first_seq": None, "last_seq": None}  # fmt: skip


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def chain_lines(
    tenant: str, count: int, *, start: datetime, first_seq: int = 1, prev_hash: str = GENESIS_HASH
):
    """Yield (seq, hash, canonical line) for `count` decision-like records."""
    for seq in range(first_seq, first_seq + count):
        record = {
            "id": f"evd_{seq:024x}",
            "tenant": tenant,
            "seq": seq,
            "kind": "decision.recorded",
            "subject": f"dec_{seq:020d}",
            "payload": {
                "action": "execute_command",
                "target": f"pytest -q tests/module_{seq % 97}",
                "decision": "allow" if seq % 5 else "block",
                "rule_id": "commands.allow",
                "severity": "low",
                "session": f"ses_{seq // 50:012d}",
                "agent": "agt_ci_runner",
                "repository": "acme/api",
            },
            "actor": "agent:agt_ci_runner",
            "created_at": timestamp(start + timedelta(milliseconds=seq)),
            "prev_hash": prev_hash,
        }
        digest = hashlib.sha256(canonicalize(record)).hexdigest()
        record["hash"] = digest
        yield seq, digest, canonicalize(record)
        prev_hash = digest


def synthetic_bundle(
    count: int, *, tenant: str = "acme", checkpoint_every: int = 100_000, key=None, merkle_heads: bool = False
) -> tuple[bytes, Ed25519PrivateKey]:
    """A bundle of `count` records; merkle_heads=True signs v2 tree heads (root_hash) at the checkpoints."""
    key = key or Ed25519PrivateKey.generate()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    lines, checkpoints = [], []
    tree = merkle.Frontier()
    for seq, digest, line in chain_lines(tenant, count, start=start):
        lines.append(line)
        if merkle_heads:
            tree.append(merkle.leaf_hash(bytes.fromhex(digest)))
        if seq % checkpoint_every == 0 or seq == count:
            checkpoints.append(
                sign_checkpoint(
                    tenant=tenant, seq=seq, head_hash=digest,
                    created_at=timestamp(start + timedelta(milliseconds=seq, seconds=1)), private_key=key,
                    root_hash=tree.root().hex() if merkle_heads else None,
                )
            )  # fmt: skip
    lines.append(b"")
    now = timestamp(start + timedelta(days=1))
    root = trust_root_document(
        tenant=tenant, created_at=now,
        keys=[{"public_key": public_key_raw(key.public_key()).hex(), "valid_from": timestamp(start - timedelta(days=1)), "valid_until": None}],
    )  # fmt: skip
    data = build_bundle(
        tenant=tenant, created_at=now, records_jsonl=b"\n".join(lines), checkpoints=checkpoints, trust_root=root,
        first_seq=1, last_seq=count, record_count=count, selection={"filter": EMPTY_FILTER, "matched": count, "matched_seqs": None},
        private_key=key, chain={"checkpoint_seqs": [c["seq"] for c in checkpoints], "latest_checkpoint": count, "frontier": [] if merkle_heads else None, "consistency": [] if merkle_heads else None},
    )  # fmt: skip
    return data, key
