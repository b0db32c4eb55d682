"""The leaf hash: what a writer can promise about a record before the sequencer gives it a seq.

A leaf is the record without its chain position: {id, kind, subject, payload, actor, created_at}.
Its hash is SHA-256 over the canonical JSON (RFC 8785) of exactly those members, so anyone holding an
exported record can recompute it and match it to the leaf hash a decision response carried.
"""

from __future__ import annotations

from .canonical import canonicalize, sha256_hex

LEAF_KEYS = ("id", "kind", "subject", "payload", "actor", "created_at")


def leaf_hash(record: dict) -> str:
    """SHA-256 hex of the record's leaf members (a full record document or a leaf document)."""
    return sha256_hex(canonicalize({key: record.get(key) for key in LEAF_KEYS}))
