"""Anchoring signed tree heads in an S3-compatible bucket under object lock (write once, kept for years).

With EVIDENCE_S3_ANCHOR_BUCKET set, every signed tree head is written, through the outbox (kind
`anchor.s3`), as `<prefix><tenant>/<seq, 20 digits>.json` (its canonical JSON and a newline) with
ObjectLockMode COMPLIANCE and a retain-until date EVIDENCE_S3_ANCHOR_RETENTION_DAYS ahead: in COMPLIANCE
mode nobody, the bucket owner included, can delete that version or shorten its retention before the
date. The bucket must have been created with object lock enabled (versioning is then on). Credentials
come from boto3's usual chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile, an instance role).
"""

from __future__ import annotations

from datetime import timedelta

import boto3
from django.conf import settings
from django.utils import timezone

from cavra_engine.evidence.canonical import canonicalize
from core.models import OutboxMessage
from core.outbox import outbox_enqueue_payload
from evidence.models import ChainHead, Checkpoint
from evidence.services.common import checkpoint_document

OUTBOX_KIND = "anchor.s3"


def s3_anchor_enqueue(checkpoint: Checkpoint) -> OutboxMessage | None:
    """In the checkpoint's transaction: one outbox message that writes the head to the bucket after commit."""
    if not settings.EVIDENCE_S3_ANCHOR_BUCKET or not checkpoint.root_hash:
        return None
    return outbox_enqueue_payload(
        tenant=checkpoint.tenant, kind=OUTBOX_KIND, payload={"checkpoint": checkpoint.pk},
        idempotency_key=f"anchor:s3:{checkpoint.tenant_id}:{checkpoint.seq}",
    )  # fmt: skip


def _client():
    return boto3.client(
        "s3",
        endpoint_url=settings.EVIDENCE_S3_ANCHOR_ENDPOINT or None,
        region_name=settings.EVIDENCE_S3_ANCHOR_REGION or None,
    )


def s3_anchor_key(tenant_label: str, seq: int) -> str:
    return f"{settings.EVIDENCE_S3_ANCHOR_PREFIX}{tenant_label}/{seq:020d}.json"


def s3_anchor_deliver(message: OutboxMessage) -> None:
    """The outbox transport for `anchor.*`: PUT the head under COMPLIANCE retention, or raise (retried)."""
    checkpoint = Checkpoint.objects.select_related("key").get(pk=message.payload["checkpoint"])
    label = (
        ChainHead.objects.filter(tenant_id=checkpoint.tenant_id).values_list("tenant_label", flat=True).get()
    )
    retain_until = timezone.now() + timedelta(days=settings.EVIDENCE_S3_ANCHOR_RETENTION_DAYS)
    _client().put_object(
        Bucket=settings.EVIDENCE_S3_ANCHOR_BUCKET,
        Key=s3_anchor_key(label, checkpoint.seq),
        Body=canonicalize(checkpoint_document(checkpoint, label)) + b"\n",
        ContentType="application/json",
        ChecksumAlgorithm="SHA256",  # S3 requires an integrity checksum on object-lock writes
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=retain_until,
    )


def s3_anchor_status(tenant) -> OutboxMessage | None:
    """The tenant's latest anchoring message (sent, pending with its last error, or failed)."""
    return (
        OutboxMessage.objects.filter(tenant=tenant, kind=OUTBOX_KIND).order_by("-created_at", "-id").first()
    )
