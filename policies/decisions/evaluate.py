"""Step: evaluate the compiled policy (cached by digest, never re-parsed per request)."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

from django.db import DatabaseError

from cavra_engine.policy import ActionRequest, CompiledPolicy, Verdict, evaluate
from core.metrics import cache_lookup_observed
from policies.decisions.resolve import portal_block
from policies.decisions.types import Caller, DecisionInput, DecisionUnavailable, Judgement, Resolution

logger = logging.getLogger(__name__)

# Compiled policies are immutable and keyed by digest, so a small in-process LRU is always correct.
_compiled_cache: OrderedDict[str, CompiledPolicy] = OrderedDict()
_cache_lock = threading.Lock()
COMPILED_CACHE_SIZE = 64


def compiled_policy(digest: str, load_json) -> CompiledPolicy:
    """The compiled policy for `digest`; `load_json()` fetches its stored form only on a cache miss."""
    with _cache_lock:
        cached = _compiled_cache.get(digest)
        if cached is not None:
            _compiled_cache.move_to_end(digest)
    if cached is not None:
        cache_lookup_observed("compiled_policy", hit=True)
        return cached
    cache_lookup_observed("compiled_policy", hit=False)
    compiled = CompiledPolicy.from_json(load_json() if callable(load_json) else load_json)
    if compiled.digest != digest:
        raise ValueError(f"stored policy digest {digest[:12]} does not match its compiled form")
    compiled.prepare()  # compile every matcher now, once, rather than on some agent's first request
    with _cache_lock:
        _compiled_cache[digest] = compiled
        while len(_compiled_cache) > COMPILED_CACHE_SIZE:
            _compiled_cache.popitem(last=False)
    return compiled


def _stored_compiled_json(version_pk: int) -> str:
    from policies.models import PolicyVersion

    return PolicyVersion.objects.values_list("compiled_json", flat=True).get(pk=version_pk)


def action_request(data: DecisionInput, agent) -> ActionRequest:
    """The engine's view of the API request."""
    git = None
    if data.action == "git_operation" or data.operation or data.branch:
        git = {
            "operation": data.operation,
            "branch": data.branch,
            "force": bool(data.force),
            "remote": data.remote,
        }
    return ActionRequest(
        action=data.action,
        target=data.target,
        repository=data.repository,
        environment=data.environment,
        agent_profile=getattr(agent, "profile", None),
        repo_root=(data.context or {}).get("repo_root"),
        git=git,
        mcp=data.mcp,
        network={"method": data.method} if data.method else None,
        context=data.context or None,
    )


def engine_verdict(compiled: CompiledPolicy, data: DecisionInput, agent) -> Verdict:
    """The engine's verdict, with the defaults the decision record relies on filled in."""
    v = evaluate(compiled, action_request(data, agent))
    return Verdict(
        decision=v.decision,
        rule_id=v.rule_id,
        severity=v.severity or "low",
        reason=v.reason or "",
        approvers=list(v.approvers or []),
        matched_segment=v.matched_segment,
        compliance=v.compliance,
        normalised_target=v.normalised_target or data.target,
        outcome=v.outcome,
    )


def evaluate_policy(resolution: Resolution, caller: Caller, data: DecisionInput) -> Judgement:
    """The policy's verdict; the portal's refusal passes through; an engine failure fails closed (block)."""
    if resolution.refusal is not None:
        return Judgement(resolution.refusal, from_policy=False)
    rollout = resolution.rollout
    try:
        compiled = compiled_policy(rollout.digest, lambda: _stored_compiled_json(rollout.version_pk))
        return Judgement(engine_verdict(compiled, data, caller.agent), from_policy=True)
    except DatabaseError as exc:
        raise DecisionUnavailable("The policy store is unreachable.") from exc
    except Exception:  # noqa: BLE001 - any engine failure must fail closed, never allow
        logger.exception("policy evaluation failed for %s", rollout.digest)
        reason = "The policy could not be evaluated; the action is blocked until an operator fixes it."
        return Judgement(portal_block("portal.policy_error", reason, data), from_policy=False)
