"""Demo data for evidence: a signed checkpoint and a verification result per demo tenant (idempotent)."""

from evidence.models import VerificationRun
from evidence.services import chain_verify, checkpoint_create, retention_policy_get


def seed(*, tenants: dict, stdout=None) -> str:
    for tenant in tenants.values():
        retention_policy_get(tenant)
        checkpoint_create(tenant=tenant)
        chain_verify(tenant=tenant, trigger=VerificationRun.Trigger.SCHEDULED)
    return f"checkpoint and verification for {len(tenants)} tenant(s)"
