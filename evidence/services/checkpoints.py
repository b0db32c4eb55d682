"""Signing keys (Ed25519, encrypted at rest) and signed checkpoints of the chain head."""

from __future__ import annotations

import os
from datetime import datetime
from functools import partial

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from cavra_engine.evidence.bundle import (
    fingerprint,
    key_id_for,
    public_key_raw,
    sign_checkpoint,
    trust_root_document,
)
from cavra_engine.evidence.canonical import canonicalize
from evidence import kinds
from evidence.models import (
    ChainHead,
    Checkpoint,
    EvidenceRecord,
    SigningKey,
)
from evidence.services.anchoring import s3_anchor_enqueue
from evidence.services.chain import evidence_append
from evidence.services.common import EvidenceError, _lock_head, utc_timestamp
from evidence.services.merkle import merkle_extend, merkle_root
from evidence.services.witnesses import witness_publications_enqueue
from evidence.signing import decrypt_private_key, encrypt_private_key
from tenants.models import Tenant


def _new_key(tenant: Tenant, valid_from: datetime) -> SigningKey:
    private = Ed25519PrivateKey.generate()
    raw = public_key_raw(private.public_key())
    key_id = key_id_for(raw)
    return SigningKey.objects.create(
        tenant=tenant, key_id=key_id, public_key=raw.hex(), fingerprint=fingerprint(raw),
        private_key_encrypted=encrypt_private_key(private, key_id=key_id), valid_from=valid_from,
    )  # fmt: skip


def signing_key_current(tenant: Tenant) -> SigningKey:
    """The key that signs now; the tenant's first key is made on first use (under the chain lock)."""
    key = SigningKey.objects.filter(tenant=tenant, valid_until__isnull=True).first()
    if key is not None:
        return key
    with transaction.atomic():
        _lock_head(tenant)
        key = SigningKey.objects.filter(tenant=tenant, valid_until__isnull=True).first()
        return key or _new_key(tenant, timezone.now())


def signing_key_rotate(*, tenant: Tenant, actor=None) -> SigningKey:
    """Retire the current key (its public half stays in the trust root) and start a new one."""
    with transaction.atomic():
        _lock_head(tenant)
        now = timezone.now()
        old = list(SigningKey.objects.select_for_update().filter(tenant=tenant, valid_until__isnull=True))
        SigningKey.objects.filter(pk__in=[k.pk for k in old]).update(valid_until=now)
        key = _new_key(tenant, now)
        evidence_append(
            tenant=tenant, kind=kinds.KEY_ROTATED, subject=key.key_id, actor=actor,
            payload={"key_id": key.key_id, "fingerprint": key.fingerprint, "retired": [k.key_id for k in old]},
        )  # fmt: skip
    return key


def trust_root_export(tenant: Tenant) -> dict:
    """Every public key the tenant ever signed with, with its validity window."""
    head = ChainHead.objects.filter(tenant=tenant).first()
    keys = SigningKey.objects.filter(tenant=tenant).order_by("valid_from")
    if not keys:
        keys = [signing_key_current(tenant)]
    return trust_root_document(
        tenant=head.tenant_label if head else tenant.slug,
        created_at=utc_timestamp(timezone.now()),
        keys=[
            {"public_key": k.public_key, "valid_from": utc_timestamp(k.valid_from),
             "valid_until": utc_timestamp(k.valid_until) if k.valid_until else None}
            for k in keys
        ],
    )  # fmt: skip


def checkpoint_create(
    *, tenant: Tenant, reason: str = Checkpoint.Reason.ON_DEMAND, seq: int | None = None
) -> Checkpoint | None:
    """Sign (tenant, seq, head hash, time) at the head (or at `seq`); None while the chain is empty."""
    head = ChainHead.objects.filter(tenant=tenant).first()
    if head is None or head.seq == 0:
        return None
    if seq is None:
        seq, head_hash = head.seq, head.head_hash
    else:
        head_hash = (
            EvidenceRecord.objects.filter(tenant=tenant, seq=seq).values_list("hash", flat=True).first()
        )
        if head_hash is None:
            raise EvidenceError(f"there is no record #{seq} to checkpoint")
    existing = Checkpoint.objects.filter(tenant=tenant, seq=seq).select_related("key").first()
    if existing is not None:
        return existing
    key = signing_key_current(tenant)
    root_hash = _tree_root(tenant, seq)
    created_at = timezone.now()
    document = sign_checkpoint(
        tenant=head.tenant_label, seq=seq, head_hash=head_hash, created_at=utc_timestamp(created_at),
        private_key=decrypt_private_key(key.private_key_encrypted, key_id=key.key_id), root_hash=root_hash,
    )  # fmt: skip
    try:
        with transaction.atomic():
            checkpoint = Checkpoint.objects.create(
                tenant=tenant, seq=seq, head_hash=head_hash, created_at=created_at, key=key,
                signature=document["signature"], reason=reason, root_hash=root_hash or "",
            )  # fmt: skip
            witness_publications_enqueue(checkpoint)
            s3_anchor_enqueue(checkpoint)
    except IntegrityError:  # another worker signed the same head a moment ago
        return Checkpoint.objects.select_related("key").get(tenant=tenant, seq=seq)
    if root_hash and settings.EVIDENCE_HEADS_FILE:
        # After commit only: a head that rolled back was never signed as far as anyone else knows.
        transaction.on_commit(partial(_heads_file_append, document))
    return checkpoint


def _heads_file_append(document: dict) -> None:
    """Append one signed tree head (canonical JSON + newline) to EVIDENCE_HEADS_FILE and fsync it."""
    with open(settings.EVIDENCE_HEADS_FILE, "ab") as heads:
        heads.write(canonicalize(document) + b"\n")
        heads.flush()
        os.fsync(heads.fileno())


def _tree_root(tenant: Tenant, seq: int) -> str | None:
    """The Merkle root over records 1..seq, growing the tree first; None (a v1 checkpoint) when the
    records before the tree existed were already purged, so no root can be computed."""
    try:
        merkle_extend(tenant=tenant, size=seq)
        return merkle_root(tenant=tenant, size=seq).hex()
    except EvidenceError:
        return None


def checkpoint_if_grown(tenant: Tenant) -> Checkpoint | None:
    """The scheduled checkpoint: only when records were appended since the last one."""
    head = ChainHead.objects.filter(tenant=tenant).first()
    last = Checkpoint.objects.filter(tenant=tenant).aggregate(m=Max("seq"))["m"] or 0
    if head is None or head.seq <= last:
        return None
    return checkpoint_create(tenant=tenant, reason=Checkpoint.Reason.SCHEDULED)
