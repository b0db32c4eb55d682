"""The sandbox page: the shipped "before the agent acts" scenarios played dry-run against one of the
tenant's rollouts. Reads only: nothing is decided through the API and nothing enters the evidence chain."""

from __future__ import annotations

from cavra_engine.agents.bundle import VerifiedBundle
from cavra_engine.agents.sandbox import SCENARIOS, play
from cavra_engine.policy.vocabulary import ACTIONS
from policies.decisions.evaluate import _stored_compiled_json, compiled_policy
from policies.selectors import rollout_get, rollouts
from registry.models import McpServer, McpTool

SANDBOX_REPOSITORY = "sandbox/repository"


def _sandbox_bundle(rollout) -> VerifiedBundle:
    """What a claude-code agent with no narrowing would get for this rollout, unsigned (in-process)."""
    version = rollout.version
    compiled = compiled_policy(version.digest, lambda: _stored_compiled_json(version.pk))
    servers: dict[str, dict] = {}
    for server in McpServer.objects.filter(tenant=rollout.tenant).order_by("server_id"):
        servers[server.server_id] = {"trust_tier": server.trust_tier, "approval_state": server.approval_state,
                                     "tools": {}}  # fmt: skip
    for server_id, name, status in McpTool.objects.filter(tenant=rollout.tenant).values_list(
        "server__server_id", "name", "status"
    ):
        servers[server_id]["tools"][name] = status
    bundle = {
        "scope": {"rollout": rollout.public_id, "mode": rollout.mode},
        "policy": {"pack": version.pack.pack_id, "version": version.version, "digest": version.digest},
        "agent": {
            "id": "sandbox",
            "name": "sandbox agent",
            "profile": "claude-code",
            "status": "active",
            "actions": list(ACTIONS),
            "repositories": [],
            "mcp_tools": ["*"],
        },  # fmt: skip
        "mcp_servers": servers,
    }
    return VerifiedBundle(bundle, compiled, "")


def sandbox_results(*, tenant, user, rollout_id: str | None) -> tuple[list, object | None, list[dict]]:
    """(the rollouts to choose from, the chosen one, each scenario's simulated timeline)."""
    options = list(rollouts(tenant=tenant, user=user).order_by("repository__name", "environment__name"))
    if rollout_id:
        chosen = rollout_get(tenant=tenant, user=user, public_id=rollout_id)
    else:
        chosen = next((r for r in options if not r.repository_id and not r.environment_id), None) or (
            options[0] if options else None
        )
    if chosen is None:
        return options, None, []
    verified = _sandbox_bundle(chosen)
    repository = chosen.repository.name if chosen.repository_id else SANDBOX_REPOSITORY
    return options, chosen, [play(verified, scenario, repository=repository) for scenario in SCENARIOS]
