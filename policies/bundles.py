"""Signed offline policy bundles: the compiled policy of a rollout scope, the agent's registry slice and
the tenant's safety canaries, signed with the tenant's Ed25519 policy-signing key (not the evidence key)
and valid until an expiry; verified offline against the policy trust root."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from cavra_engine.agents.bundle import BUNDLE_TYPE, canary_results, sign_bundle, timestamp
from cavra_engine.evidence.canonical import canonicalize, sha256_hex
from evidence.kinds import POLICY_BUNDLE_ISSUED
from evidence.services import evidence_append
from evidence.signing import decrypt_private_key
from policies.decisions.evaluate import _stored_compiled_json, compiled_policy
from policies.decisions.resolve import rollout_resolve
from policies.models import Rollout
from policies.services.canaries import tenant_canaries
from policies.services.signing import policy_signing_key_current
from registry.models import McpServer, McpTool
from registry.profiles import effective_capabilities, glob_any

MIN_TTL, MAX_TTL = 60, 7 * 24 * 3600


def _ttl(value) -> int:
    default = int(getattr(settings, "CAVRA_POLICY_BUNDLE_TTL", 24 * 3600))
    if value in (None, ""):
        return default
    try:
        ttl = int(value)
    except (TypeError, ValueError):
        ttl = -1
    if not MIN_TTL <= ttl <= MAX_TTL:
        raise ValidationError({"ttl": f"Give whole seconds from {MIN_TTL} to {MAX_TTL}."})
    return ttl


def _rollout(*, tenant, scope: str, repository: str | None, environment: str | None) -> Rollout:
    if scope == "current":
        rollout = rollout_resolve(tenant=tenant, repository=repository, environment=environment)
    else:
        rollout = (
            Rollout.objects.filter(tenant=tenant, public_id=scope)
            .select_related("version__pack", "repository", "environment")
            .first()
        )
    if rollout is None:
        raise Http404("No policy is rolled out for this scope.")
    return rollout


def _registry_slice(agent) -> tuple[dict, dict]:
    caps = effective_capabilities(agent)
    agent_part = {
        "id": agent.public_id,
        "name": agent.name,
        "profile": agent.profile,
        "status": agent.status,
        "actions": sorted(caps.actions),
        "repositories": list(caps.repositories),
        "mcp_tools": list(caps.mcp_tools),
    }
    server_globs = [p.split(":", 1)[0] for p in caps.mcp_tools]
    servers: dict[str, dict] = {}
    if server_globs:
        for server in McpServer.objects.filter(tenant=agent.tenant).order_by("server_id"):
            if not glob_any(server.server_id, server_globs):
                continue
            tools = McpTool.objects.filter(server=server).order_by("name").values_list("name", "status")
            servers[server.server_id] = {
                "trust_tier": server.trust_tier,
                "approval_state": server.approval_state,
                "tools": {
                    name: status for name, status in tools if caps.allows_mcp_tool(server.server_id, name)
                },
            }
    return agent_part, servers


def policy_bundle_issue(
    *, tenant, agent, scope: str, repository: str | None = None, environment: str | None = None, ttl=None
) -> dict:
    """Build, sign and record (as evidence) a bundle for `agent`; raises Http404 without a rollout."""
    seconds = _ttl(ttl)
    rollout = _rollout(tenant=tenant, scope=scope, repository=repository, environment=environment)
    version = rollout.version
    compiled = compiled_policy(version.digest, lambda: _stored_compiled_json(version.pk))
    agent_part, servers = _registry_slice(agent)
    key = policy_signing_key_current(tenant=tenant)  # first: a tenant's first key is made now, valid from now
    now = timezone.now()
    bundle = {
        "type": BUNDLE_TYPE,
        "tenant": tenant.slug,
        "issued_at": timestamp(now),
        "expires_at": timestamp(now + timedelta(seconds=seconds)),
        "scope": {
            "rollout": rollout.public_id,
            "repository": rollout.repository.name if rollout.repository_id else None,
            "environment": rollout.environment.name if rollout.environment_id else None,
            "mode": rollout.mode,
        },
        "policy": {
            "pack": version.pack.pack_id,
            "version": version.version,
            "digest": version.digest,
            "compiled": version.compiled_json,
        },
        "agent": agent_part,
        "mcp_servers": servers,
        "canaries": canary_results(
            compiled, [c.to_dict() for c in tenant_canaries(tenant=tenant)], profile=agent.profile
        ),
    }
    private = decrypt_private_key(key.private_key_encrypted, key_id=key.key_id)
    envelope = sign_bundle(bundle, key_id=key.key_id, sign=private.sign)
    with transaction.atomic():
        evidence_append(
            tenant=tenant,
            kind=POLICY_BUNDLE_ISSUED,
            subject=rollout.public_id,
            actor=f"agent:{agent.public_id}",
            payload={
                "agent": agent.public_id,
                "rollout": rollout.public_id,
                "policy": {
                    "pack": version.pack.pack_id,
                    "version": version.version,
                    "digest": version.digest,
                },
                "bundle_digest": sha256_hex(canonicalize(bundle)),
                "key_id": key.key_id,
                "expires_at": bundle["expires_at"],
            },
        )
    return envelope
