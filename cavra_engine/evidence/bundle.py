"""Bundle layout and writer: records.jsonl, checkpoints.jsonl, trust-root.json, manifest.json, manifest.sig."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from . import container
from .canonical import canonicalize

FORMAT_V1 = "cavra.evidence.bundle/v1"
FORMAT_V2 = "cavra.evidence.bundle/v2"
FORMAT = FORMAT_V2  # what build_bundle writes when given the chain commitments
FORMATS = {FORMAT_V1: 1, FORMAT_V2: 2}
CHECKPOINT_TYPE = "cavra.evidence.checkpoint/v1"
CHECKPOINT_TYPE_V2 = "cavra.evidence.checkpoint/v2"  # a signed tree head: also commits to the Merkle root
TRUST_ROOT_TYPE = "cavra.evidence.trust-root/v1"
MANIFEST_SIG_TYPE = "cavra.evidence.manifest-signature/v1"
RECORD_KEYS = frozenset(
    {"id", "tenant", "seq", "kind", "subject", "payload", "actor", "created_at", "prev_hash", "hash"}
)
CHECKPOINT_KEYS = frozenset({"type", "tenant", "seq", "head_hash", "created_at", "key_id", "signature"})
# Order of the files inside the container; the verifier requires exactly this order.
FILES = ("records.jsonl", "checkpoints.jsonl", "trust-root.json", "manifest.json", "manifest.sig")
HASHED_FILES = FILES[:3]

Signer = Callable[[bytes], tuple[str, str]]  # message -> (key_id, signature hex)


def public_key_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def fingerprint(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()


def key_id_for(public_raw: bytes) -> str:
    return "key_" + fingerprint(public_raw)[:24]


def checkpoint_message(checkpoint: dict) -> bytes:
    """The exact bytes a checkpoint signature covers: canonical JSON of the checkpoint without `signature`."""
    return canonicalize({k: v for k, v in checkpoint.items() if k != "signature"})


def sign_checkpoint(
    *, tenant: str, seq: int, head_hash: str, created_at: str, private_key: Ed25519PrivateKey,
    root_hash: str | None = None,
) -> dict:  # fmt: skip
    """A checkpoint; with root_hash (RFC 9162 tree over records 1..seq) it is a v2 signed tree head."""
    body = {
        "type": CHECKPOINT_TYPE if root_hash is None else CHECKPOINT_TYPE_V2,
        "tenant": tenant,
        "seq": seq,
        "head_hash": head_hash,
        "created_at": created_at,
        "key_id": key_id_for(public_key_raw(private_key.public_key())),
    }
    if root_hash is not None:
        body["root_hash"] = root_hash
    return {**body, "signature": private_key.sign(canonicalize(body)).hex()}


def trust_root_document(*, tenant: str, created_at: str, keys: Iterable[dict]) -> dict:
    """keys: dicts with public_key (hex), valid_from, valid_until (or None)."""
    entries = []
    for key in keys:
        raw = bytes.fromhex(key["public_key"])
        entries.append(
            {
                "key_id": key_id_for(raw),
                "algorithm": "Ed25519",
                "public_key": key["public_key"],
                "fingerprint": fingerprint(raw),
                "valid_from": key["valid_from"],
                "valid_until": key["valid_until"],
            }
        )
    entries.sort(key=lambda e: (e["valid_from"], e["key_id"]))
    return {"type": TRUST_ROOT_TYPE, "tenant": tenant, "created_at": created_at, "keys": entries}


def jsonl(items: Iterable[dict]) -> bytes:
    return b"".join(canonicalize(item) + b"\n" for item in items)


def build_bundle(
    *,
    tenant: str,
    created_at: str,
    records_jsonl: bytes,
    checkpoints: list[dict],
    trust_root: dict,
    first_seq: int,
    last_seq: int,
    record_count: int,
    selection: dict,
    private_key: Ed25519PrivateKey,
    chain: dict | None = None,
) -> bytes:
    """Assemble and sign a bundle. records_jsonl is canonical JSON, one record per line, seq ascending.

    chain = {"checkpoint_seqs": [...], "latest_checkpoint": n} makes a v2 bundle (docs/evidence-format.md
    section 5); without it the bundle is v1, kept only so tests can still produce the old format.
    """
    files = {
        "records.jsonl": records_jsonl,
        "checkpoints.jsonl": jsonl(checkpoints),
        "trust-root.json": canonicalize(trust_root),
    }
    manifest = {
        "format": FORMAT_V2 if chain is not None else FORMAT_V1,
        "tenant": tenant,
        "created_at": created_at,
        "first_seq": first_seq,
        "last_seq": last_seq,
        "counts": {"records": record_count, "checkpoints": len(checkpoints)},
        "selection": selection,
        "files": {
            name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
            for name, data in files.items()
        },
    }
    if chain is not None:
        manifest["chain"] = chain
    manifest_bytes = canonicalize(manifest)
    signature = {
        "type": MANIFEST_SIG_TYPE,
        "key_id": key_id_for(public_key_raw(private_key.public_key())),
        "algorithm": "Ed25519",
        "signature": private_key.sign(manifest_bytes).hex(),
    }
    files["manifest.json"] = manifest_bytes
    files["manifest.sig"] = canonicalize(signature)
    return container.build([(name, files[name]) for name in FILES])
