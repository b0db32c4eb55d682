"""Reads of the evidence chain for pages, API and exports; every read is scoped to one tenant."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from core.authz import get_for_tenant_or_404
from evidence.models import ChainHead, Checkpoint, EvidenceRecord, RetentionPolicy, VerificationRun
from evidence.services.common import checkpoint_document
from tenants.models import Tenant

# Filter name -> the lookup it narrows by (`kind` is separate: exact, or a prefix ending in ".").
_LOOKUPS = {
    "session": "session_ref",
    "agent": "agent_ref",
    "repository": "repository",
    "decision": "decision",
    "subject": "subject",
    "since": "created_at__gte",
    "until": "created_at__lt",
    "seq_from": "seq__gte",
    "seq_to": "seq__lte",
}
FILTER_FIELDS = ("kind", *_LOOKUPS)


def evidence_records(*, tenant: Tenant, user=None, filters: dict | None = None) -> QuerySet[EvidenceRecord]:
    """Records of the tenant, newest first, narrowed by cleaned filters (see FILTER_FIELDS)."""
    qs = EvidenceRecord.objects.filter(tenant=tenant).order_by("-seq")
    f = {k: v for k, v in (filters or {}).items() if v not in (None, "")}
    if "kind" in f:
        qs = qs.filter(kind__startswith=f["kind"]) if f["kind"].endswith(".") else qs.filter(kind=f["kind"])
    return qs.filter(**{lookup: f[name] for name, lookup in _LOOKUPS.items() if name in f})


def evidence_record_get(*, tenant: Tenant, user=None, public_id: str) -> EvidenceRecord:
    return get_for_tenant_or_404(EvidenceRecord.objects.all(), tenant, public_id=public_id)


def evidence_record_context(record: EvidenceRecord) -> dict:
    """Neighbours and the first checkpoint that covers the record (None while unsigned)."""
    tenant_id = record.tenant_id
    return {
        "previous": EvidenceRecord.objects.filter(tenant_id=tenant_id, seq=record.seq - 1)
        .only("public_id", "seq", "kind", "hash")
        .first(),
        "next": EvidenceRecord.objects.filter(tenant_id=tenant_id, seq=record.seq + 1)
        .only("public_id", "seq", "kind", "prev_hash")
        .first(),
        "checkpoint": Checkpoint.objects.filter(tenant_id=tenant_id, seq__gte=record.seq)
        .order_by("seq")
        .select_related("key")
        .first(),
    }


def chain_head(tenant: Tenant) -> ChainHead | None:
    return ChainHead.objects.filter(tenant=tenant).first()


def tenant_label(tenant: Tenant) -> str:
    head = chain_head(tenant)
    return head.tenant_label if head else tenant.slug


def checkpoints_list(*, tenant: Tenant, user=None) -> QuerySet[Checkpoint]:
    return Checkpoint.objects.filter(tenant=tenant).select_related("key").order_by("-seq")


def tree_head_get(*, tenant: Tenant, user=None, size: int | None = None, field: str = "size") -> Checkpoint:
    """The latest signed tree head (a checkpoint with a Merkle root), or the one at `size`.

    Raises a validation error naming `field` when there is none, so the API answers 400, not 404.
    """
    heads = Checkpoint.objects.filter(tenant=tenant).exclude(root_hash="").select_related("key")
    head = heads.filter(seq=size).first() if size is not None else heads.order_by("-seq").first()
    if head is None:
        detail = (
            f"there is no signed tree head of size {size}; list them at /api/v1/evidence/checkpoints"
            if size is not None
            else "no signed tree head yet; sign a checkpoint first"
        )
        raise ValidationError({field: [detail]})
    return head


def tree_head_document(head: Checkpoint) -> dict:
    label = ChainHead.objects.filter(tenant_id=head.tenant_id).values_list("tenant_label", flat=True).first()
    return checkpoint_document(head, label or "")


def verification_latest(*, tenant: Tenant, user=None) -> VerificationRun | None:
    return VerificationRun.objects.filter(tenant=tenant).first()


def verification_history(*, tenant: Tenant, user=None, limit: int = 10) -> list[VerificationRun]:
    return list(VerificationRun.objects.filter(tenant=tenant)[:limit])


def retention_policy(tenant: Tenant) -> RetentionPolicy | None:
    return RetentionPolicy.objects.filter(tenant=tenant).first()


def siem_page(*, tenant: Tenant, user=None, after: int = 0, limit: int = 1000) -> list[EvidenceRecord]:
    """Records with seq > after, oldest first. Appends commit in seq order (the chain lock is held to
    commit), so a collector that resumes from the last seq it saw gets no gaps and no duplicates."""
    return list(EvidenceRecord.objects.filter(tenant=tenant, seq__gt=after).order_by("seq")[:limit])
