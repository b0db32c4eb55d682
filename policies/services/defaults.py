"""What a new tenant starts with: the recommended pack rolled out tenant-wide in enforce mode."""

from __future__ import annotations

from cavra_engine.policy.loader import RECOMMENDED_PACK
from policies.models import Rollout
from policies.services import policy_pack_install_bundled, rollout_set
from tenants.models import Tenant, User


def tenant_default_rollout_create(*, tenant: Tenant, actor: User | None = None) -> Rollout | None:
    """Install the recommended pack and roll it out to every repository and environment (if nothing is yet)."""
    if Rollout.objects.filter(tenant=tenant, repository=None, environment=None).exists():
        return None
    version = policy_pack_install_bundled(tenant=tenant, pack_id=RECOMMENDED_PACK, actor=actor)
    return rollout_set(tenant=tenant, version=version, mode=Rollout.Mode.ENFORCE, actor=actor)
