"""Retention: the policy, legal holds, and the audited purge that leaves a signed checkpoint at the cut."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from core.authz import authorize_actor
from evidence import kinds
from evidence.models import (
    ChainHead,
    Checkpoint,
    Decision,
    EvidenceRecord,
    RetentionPolicy,
)
from evidence.services.chain import evidence_append
from evidence.services.checkpoints import checkpoint_create
from evidence.services.common import EvidenceError, LegalHoldActive, _lock_head, utc_timestamp
from tenants.models import Tenant


def retention_policy_get(tenant: Tenant) -> RetentionPolicy:
    policy = RetentionPolicy.objects.filter(tenant=tenant).first()
    if policy is None:
        RetentionPolicy.objects.bulk_create([RetentionPolicy(tenant=tenant)], ignore_conflicts=True)
        policy = RetentionPolicy.objects.get(tenant=tenant)
    return policy


def retention_policy_update(
    *,
    tenant: Tenant,
    actor=None,
    retention_days: int | None = None,
    legal_hold: bool | None = None,
    legal_hold_reason: str | None = None,
) -> RetentionPolicy:
    authorize_actor(actor, tenant, "evidence.manage_retention")
    with transaction.atomic():
        policy = retention_policy_get(tenant)
        policy = RetentionPolicy.objects.select_for_update().get(pk=policy.pk)
        before = {"retention_days": policy.retention_days, "legal_hold": policy.legal_hold}
        if retention_days is not None:
            if retention_days < 1:
                raise EvidenceError("retention_days must be at least 1")
            policy.retention_days = retention_days
        if legal_hold is not None:
            if legal_hold and not (legal_hold_reason or policy.legal_hold_reason):
                raise EvidenceError("a legal hold needs a reason")
            policy.legal_hold = legal_hold
        if legal_hold_reason is not None:
            policy.legal_hold_reason = legal_hold_reason
        policy.updated_at = timezone.now()
        policy.updated_by = actor if getattr(actor, "pk", None) else None
        policy.save()
        evidence_append(
            tenant=tenant, kind=kinds.RETENTION_UPDATED, subject=f"retention:{tenant.slug}", actor=actor,
            payload={"before": before, "after": {"retention_days": policy.retention_days, "legal_hold": policy.legal_hold,
                                                  "legal_hold_reason": policy.legal_hold_reason}},
        )  # fmt: skip
    return policy


@dataclass
class PurgeResult:
    cut_seq: int
    purged: int
    checkpoint: Checkpoint | None


def retention_purge(*, tenant: Tenant, actor=None, now: datetime | None = None) -> PurgeResult:
    """Delete records older than the tenant's retention, the only way rows leave the chain.

    First a signed checkpoint at the cut (so what remains verifies from there), then an evidence
    record of the purge, then the delete through the purge gate the database trigger checks.
    """
    authorize_actor(actor, tenant, "evidence.manage_retention")
    now = now or timezone.now()
    with transaction.atomic():
        policy = retention_policy_get(tenant)
        policy = RetentionPolicy.objects.select_for_update().get(pk=policy.pk)
        if policy.legal_hold:
            raise LegalHoldActive(
                f"Evidence is under legal hold ({policy.legal_hold_reason or 'no reason given'}); nothing was purged."
            )
        head = _lock_head(tenant)
        cutoff = now - timedelta(days=policy.retention_days)
        cut = EvidenceRecord.objects.filter(
            tenant=tenant, seq__gt=head.purged_through, created_at__lt=cutoff
        ).aggregate(m=Max("seq"))["m"]
        if cut is None:
            return PurgeResult(head.purged_through, 0, None)
        checkpoint = checkpoint_create(tenant=tenant, seq=cut, reason=Checkpoint.Reason.RETENTION_CUT)
        doomed = EvidenceRecord.objects.filter(tenant=tenant, seq__gt=head.purged_through, seq__lte=cut)
        purged = doomed.count()
        evidence_append(
            tenant=tenant, kind=kinds.RETENTION_PURGED, subject=f"seq:{head.purged_through + 1}-{cut}", actor=actor,
            payload={"cut_seq": cut, "cut_hash": checkpoint.head_hash, "checkpoint_signature": checkpoint.signature,
                     "records": purged, "retention_days": policy.retention_days, "cutoff": utc_timestamp(cutoff)},
        )  # fmt: skip
        Decision.objects.filter(tenant=tenant, evidence__seq__lte=cut).delete()
        ChainHead.objects.filter(pk=head.pk).update(purging=True, purged_through=cut)
        doomed.delete()
        ChainHead.objects.filter(pk=head.pk).update(purging=False)
    return PurgeResult(cut, purged, checkpoint)
