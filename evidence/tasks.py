"""Celery tasks: scheduled checkpoints, chain verification and retention. Tasks take ids, call a service."""

from __future__ import annotations

from celery import shared_task
from django.db.models import F, Max, OuterRef, Subquery
from django.db.models.functions import Coalesce

from evidence.models import ChainHead, Checkpoint, VerificationRun
from evidence.services import LegalHoldActive, chain_verify, checkpoint_if_grown, retention_purge
from tenants.models import Tenant


@shared_task(name="evidence.checkpoint_tenant")
def checkpoint_tenant(tenant_id: int) -> int | None:
    checkpoint = checkpoint_if_grown(Tenant.objects.get(pk=tenant_id))
    return checkpoint.seq if checkpoint else None


@shared_task(name="evidence.checkpoint_grown_chains")
def checkpoint_grown_chains() -> int:
    """Every minute: queue a checkpoint for each chain that grew since its last checkpoint."""
    last = (
        Checkpoint.objects.filter(tenant=OuterRef("tenant"))
        .values("tenant")
        .annotate(m=Max("seq"))
        .values("m")
    )
    grown = ChainHead.objects.annotate(last=Coalesce(Subquery(last), 0)).filter(seq__gt=F("last"))
    tenant_ids = list(grown.values_list("tenant_id", flat=True))
    for tenant_id in tenant_ids:
        checkpoint_tenant.delay(tenant_id)
    return len(tenant_ids)


@shared_task(name="evidence.verify_tenant")
def verify_tenant(
    tenant_id: int, first_seq: int | None = None, last_seq: int | None = None, trigger: str = "scheduled"
) -> bool:
    return chain_verify(
        tenant=Tenant.objects.get(pk=tenant_id), first_seq=first_seq, last_seq=last_seq, trigger=trigger
    ).ok


@shared_task(name="evidence.verify_all_chains")
def verify_all_chains() -> int:
    tenant_ids = list(ChainHead.objects.values_list("tenant_id", flat=True))
    for tenant_id in tenant_ids:
        verify_tenant.delay(tenant_id, trigger=VerificationRun.Trigger.SCHEDULED)
    return len(tenant_ids)


@shared_task(name="evidence.purge_tenant")
def purge_tenant(tenant_id: int) -> int:
    try:
        return retention_purge(tenant=Tenant.objects.get(pk=tenant_id)).purged
    except LegalHoldActive:
        return 0


@shared_task(name="evidence.purge_expired")
def purge_expired() -> int:
    tenant_ids = list(ChainHead.objects.values_list("tenant_id", flat=True))
    for tenant_id in tenant_ids:
        purge_tenant.delay(tenant_id)
    return len(tenant_ids)
