"""Step: resolve which policy version and mode govern (tenant, repository, environment)."""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.db.models import Q

from cavra_engine.policy import Verdict
from cavra_engine.policy.vocabulary import BLOCK
from core.metrics import cache_lookup_observed
from policies.decisions.types import (
    NO_POLICY,
    Caller,
    DecisionInput,
    DecisionUnavailable,
    PolicyRef,
    Resolution,
    RolloutSnapshot,
)
from policies.models import Rollout

logger = logging.getLogger(__name__)

# (tenant id, repository, environment) -> (tenant.policy_generation, snapshot or None). Every change to
# rollouts, repositories or environments bumps the generation in its own transaction, and the tenant
# row arrives fresh with the agent on every request, so a stale entry is never used.
_rollout_cache: dict[tuple, tuple[int, RolloutSnapshot | None]] = {}
ROLLOUT_CACHE_SIZE = 4096


def rollout_resolve(*, tenant, repository: str | None, environment: str | None) -> Rollout | None:
    """The most specific rollout: repo+env, then repo, then env, then tenant-wide (one query)."""
    scope = Q(repository__isnull=True)
    if repository:
        scope |= Q(repository__name=repository)
    env_scope = Q(environment__isnull=True)
    if environment:
        env_scope |= Q(environment__name=environment.lower())
    scope &= env_scope
    candidates = list(
        Rollout.objects.filter(scope, tenant=tenant)
        .select_related("version__pack", "repository", "environment")
        .defer("version__source_text", "version__compiled_json")
        .order_by()
    )
    if not candidates:
        return None
    return max(candidates, key=lambda r: (r.repository_id is not None, r.environment_id is not None))


def rollout_snapshot(*, tenant, repository: str | None, environment: str | None) -> RolloutSnapshot | None:
    """rollout_resolve, cached per tenant policy generation (no query while nothing changed)."""
    key = (tenant.pk, repository or "", (environment or "").lower())
    generation = tenant.policy_generation
    hit = _rollout_cache.get(key)
    if hit is not None and hit[0] == generation:
        cache_lookup_observed("rollout", hit=True)
        return hit[1]
    cache_lookup_observed("rollout", hit=False)
    rollout = rollout_resolve(tenant=tenant, repository=repository, environment=environment)
    snapshot = None
    if rollout is not None:
        version = rollout.version
        snapshot = RolloutSnapshot(
            version.pk, version.digest, version.pack.pack_id, version.version, rollout.mode
        )
    if len(_rollout_cache) >= ROLLOUT_CACHE_SIZE:
        _rollout_cache.clear()
    _rollout_cache[key] = (generation, snapshot)
    return snapshot


def portal_block(rule_id: str, reason: str, data: DecisionInput) -> Verdict:
    """A verdict the portal gives itself when no policy can answer (always block)."""
    return Verdict(BLOCK, rule_id, "high", reason, normalised_target=data.target)


def resolve(caller: Caller, data: DecisionInput) -> Resolution:
    """The rollout in force; an inactive tenant or a scope without a rollout is refused (block)."""
    tenant = caller.tenant
    try:
        rollout = rollout_snapshot(tenant=tenant, repository=data.repository, environment=data.environment)
    except DatabaseError as exc:
        logger.exception("rollout lookup failed")
        raise DecisionUnavailable("The policy store is unreachable.") from exc
    if not tenant.is_usable:
        status = tenant.get_entitlement_status_display().lower()
        reason = f"The tenant's entitlement is {status} or expired; agents are blocked until it is renewed."
        return Resolution(
            None, NO_POLICY, Rollout.Mode.ENFORCE, portal_block("portal.tenant_inactive", reason, data)
        )
    if rollout is None:
        reason = "No policy is rolled out for this repository and environment, so the portal cannot allow it."
        return Resolution(
            None, NO_POLICY, Rollout.Mode.ENFORCE, portal_block("portal.no_policy", reason, data)
        )
    policy = PolicyRef(rollout.pack_id, rollout.version, rollout.digest, rollout.mode)
    return Resolution(rollout, policy, rollout.mode)
