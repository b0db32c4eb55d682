"""Shared pieces of evidence writes: errors, timestamps, actor labels and record/checkpoint documents."""

from __future__ import annotations

from datetime import UTC, datetime

from cavra_engine.evidence.canonical import (
    canonicalize,
    sha256_hex,
)
from cavra_engine.evidence.leaf import leaf_hash
from cavra_engine.evidence.schema import ACTOR
from evidence.models import (
    ChainHead,
    Checkpoint,
    EvidenceRecord,
)
from tenants.models import Tenant

BUNDLE_MAX_RECORDS = 500_000
MATCHED_SEQS_LIMIT = 10_000
PROBLEM_LIMIT = 50


class EvidenceError(ValueError):
    """A request about evidence that cannot be served as asked (the message is for the user)."""


class LegalHoldActive(EvidenceError):
    pass


def utc_timestamp(moment: datetime) -> str:
    """The one text form of a time inside evidence: UTC, microseconds, trailing Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def actor_label(actor) -> str | None:
    """User -> "user:<email>", an object with public_id (an agent) -> "agent:<id>", None for the system.

    Text is taken as given only in one of the forms docs/evidence-format.md lists (user:, agent:,
    system:<name>), so every record an independent verifier reads has an actor it can check.
    """
    if actor is None:
        return None
    if isinstance(actor, str):
        if not ACTOR.match(actor):
            raise EvidenceError(f"actor {actor[:60]!r} must be user:<email>, agent:<id> or system:<name>")
        return actor
    if getattr(actor, "is_authenticated", False):
        return f"user:{getattr(actor, 'email', '') or actor.get_username()}"
    if getattr(actor, "public_id", None):
        return f"agent:{actor.public_id}"
    return None  # an anonymous or unknown caller acts as the system


def record_document(record: EvidenceRecord, tenant_label: str) -> dict:
    """The record as it is hashed and exported (docs/evidence-format.md, "Record")."""
    return {
        "id": record.public_id,
        "tenant": tenant_label,
        "seq": record.seq,
        "kind": record.kind,
        "subject": record.subject,
        "payload": record.payload,
        "actor": record.actor,
        "created_at": utc_timestamp(record.created_at),
        "prev_hash": record.prev_hash,
        "hash": record.hash,
    }


def leaf_document(leaf) -> dict:
    """A leaf (or record) as its leaf hash covers it (docs/evidence-format.md, "Leaves")."""
    return {
        "id": leaf.public_id,
        "kind": leaf.kind,
        "subject": leaf.subject,
        "payload": leaf.payload,
        "actor": leaf.actor,
        "created_at": utc_timestamp(leaf.created_at),
    }


def evidence_reference(entry) -> dict:
    """{id, leaf_hash, seq, hash} of an integrated record or of a leaf (seq and hash null until integrated)."""
    record = entry if isinstance(entry, EvidenceRecord) else getattr(entry, "record", None)
    return {
        "id": entry.public_id,
        "leaf_hash": getattr(entry, "leaf_hash", None) or leaf_hash(leaf_document(entry)),
        "seq": record.seq if record is not None else None,
        "hash": record.hash if record is not None else None,
    }


def checkpoint_document(checkpoint: Checkpoint, tenant_label: str) -> dict:
    """v2 (a signed tree head, with root_hash) when the checkpoint has a Merkle root, else v1."""
    document = {
        "type": "cavra.evidence.checkpoint/v2" if checkpoint.root_hash else "cavra.evidence.checkpoint/v1",
        "tenant": tenant_label,
        "seq": checkpoint.seq,
        "head_hash": checkpoint.head_hash,
        "created_at": utc_timestamp(checkpoint.created_at),
        "key_id": checkpoint.key.key_id,
        "signature": checkpoint.signature,
    }
    if checkpoint.root_hash:
        document["root_hash"] = checkpoint.root_hash
    return document


def _hash_of(document: dict) -> str:
    return sha256_hex(canonicalize({k: v for k, v in document.items() if k != "hash"}))


def _lock_head(tenant: Tenant) -> ChainHead:
    """Take the tenant's chain lock (row lock on its head) for the rest of the transaction."""
    head = ChainHead.objects.select_for_update().filter(tenant=tenant).first()
    if head is None:
        ChainHead.objects.bulk_create(
            [ChainHead(tenant=tenant, tenant_label=tenant.slug)], ignore_conflicts=True
        )
        head = ChainHead.objects.select_for_update().get(tenant=tenant)
    return head


def _text(value, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""
