"""Shared pieces of evidence writes: errors, timestamps, actor labels and record/checkpoint documents."""

from __future__ import annotations

from datetime import UTC, datetime

from cavra_engine.evidence.canonical import (
    canonicalize,
    sha256_hex,
)
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
    """User -> "user:<email>", an object with public_id (an agent) -> "agent:<id>", text as given, None for system."""
    if actor is None:
        return None
    if isinstance(actor, str):
        return actor
    if getattr(actor, "is_authenticated", False) and getattr(actor, "email", None):
        return f"user:{actor.email}"
    if getattr(actor, "public_id", None):
        return f"agent:{actor.public_id}"
    return str(actor)


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


def checkpoint_document(checkpoint: Checkpoint, tenant_label: str) -> dict:
    return {
        "type": "cavra.evidence.checkpoint/v1",
        "tenant": tenant_label,
        "seq": checkpoint.seq,
        "head_hash": checkpoint.head_hash,
        "created_at": utc_timestamp(checkpoint.created_at),
        "key_id": checkpoint.key.key_id,
        "signature": checkpoint.signature,
    }


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
