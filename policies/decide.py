"""The runtime decision: who is acting, what will change, what policy applies, what evidence proves it.

`decide()` is the one service behind POST /api/v1/decisions. It never answers allow when it cannot
decide: a missing rollout, an uncompilable policy or an internal error becomes `block`, and a
database that is unreachable surfaces as DecisionUnavailable (HTTP 503, which every client treats
as block).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone

from cavra_engine.evidence.canonical import canonicalize
from cavra_engine.policy import ActionRequest, CompiledPolicy, evaluate
from cavra_engine.policy.evaluator import RANK
from cavra_engine.surfaces import classify_surface
from evidence.models import AgentSession, Decision
from evidence.services import evidence_append
from policies.models import Rollout

logger = logging.getLogger(__name__)

ACTIONS = ("read_file", "write_file", "execute_command", "git_operation", "mcp_tool_call", "network_request")
SESSION_TOUCH_INTERVAL = timedelta(minutes=1)


class DecisionInputError(ValueError):
    """The request names something that does not exist for this agent; nothing is decided or recorded."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class DecisionUnavailable(Exception):
    """The portal cannot decide at all right now (database unreachable): answer 503, i.e. block."""


@dataclass
class DecisionInput:
    action: str
    target: str
    session_id: str | None = None
    repository: str | None = None
    environment: str | None = None
    operation: str | None = None
    branch: str | None = None
    force: bool | None = None
    remote: str | None = None
    method: str | None = None
    mcp: dict | None = None
    approval_id: str | None = None
    context: dict = field(default_factory=dict)


@dataclass
class DecisionOutcome:
    decision: Decision
    approval: Any = None
    evidence_seq: int | None = None
    evidence_hash: str | None = None
    would_have: dict | None = None

    def as_response(self) -> dict:
        d = self.decision
        body = {
            "decision_id": d.public_id,
            "decision": d.decision,
            "rule_id": d.rule_id or None,
            "reason": d.reason,
            "severity": d.severity or None,
            "policy": {
                "pack": d.policy_pack or None,
                "version": d.policy_version or None,
                "digest": d.policy_digest or None,
                "mode": d.policy_mode or None,
            },
            "approval": None,
            "evidence": {"seq": self.evidence_seq, "hash": self.evidence_hash},
            "session_id": d.session.public_id if d.session_id else None,
            "timestamp": d.created_at.isoformat().replace("+00:00", "Z"),
        }
        if self.would_have:
            body["audit_only"] = self.would_have
        if self.approval is not None:
            body["approval"] = approval_summary(self.approval)
        return body


def approval_summary(approval) -> dict:
    from django.urls import reverse

    return {
        "id": approval.public_id,
        "status": approval.status,
        "expires_at": approval.expires_at.isoformat().replace("+00:00", "Z") if approval.expires_at else None,
        "url": reverse("approvals:detail", kwargs={"public_id": approval.public_id}),
    }


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
            return cached
    compiled = CompiledPolicy.from_json(load_json() if callable(load_json) else load_json)
    if compiled.digest != digest:
        raise ValueError(f"stored policy digest {digest[:12]} does not match its compiled form")
    compiled.prepare()  # compile every matcher now, once, rather than on some agent's first request
    with _cache_lock:
        _compiled_cache[digest] = compiled
        while len(_compiled_cache) > COMPILED_CACHE_SIZE:
            _compiled_cache.popitem(last=False)
    return compiled


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


@dataclass(frozen=True)
class RolloutSnapshot:
    version_pk: int
    digest: str
    pack_id: str
    version: str
    mode: str


# (tenant id, repository, environment) -> (tenant.policy_generation, snapshot or None). Every change to
# rollouts, repositories or environments bumps the generation in its own transaction, and the tenant
# row arrives fresh with the agent on every request, so a stale entry is never used.
_rollout_cache: dict[tuple, tuple[int, RolloutSnapshot | None]] = {}
ROLLOUT_CACHE_SIZE = 4096


def _resolved_rollout(*, tenant, repository: str | None, environment: str | None) -> RolloutSnapshot | None:
    key = (tenant.pk, repository or "", (environment or "").lower())
    generation = tenant.policy_generation
    hit = _rollout_cache.get(key)
    if hit is not None and hit[0] == generation:
        return hit[1]
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


def _stored_compiled_json(version_pk: int) -> str:
    from policies.models import PolicyVersion

    return PolicyVersion.objects.values_list("compiled_json", flat=True).get(pk=version_pk)


def action_digest(
    *,
    agent_ref: str,
    action: str,
    normalised_target: str,
    repository: str | None,
    environment: str | None,
    policy_digest: str,
) -> str:
    """SHA-256 of the canonical action: what an approval is bound to, exactly."""
    document = {
        "agent": agent_ref,
        "action": action,
        "target": normalised_target,
        "repository": repository or "",
        "environment": environment or "",
        "policy_digest": policy_digest,
    }
    return hashlib.sha256(canonicalize(document)).hexdigest()


@dataclass
class _Verdict:
    decision: str
    rule_id: str | None
    severity: str
    reason: str
    approvers: list[str] = field(default_factory=list)
    matched_segment: str | None = None
    normalised_target: str = ""
    compliance: Any = None


def _engine_verdict(compiled: CompiledPolicy, data: DecisionInput, agent) -> _Verdict:
    git = None
    if data.action == "git_operation" or data.operation or data.branch:
        git = {
            "operation": data.operation,
            "branch": data.branch,
            "force": bool(data.force),
            "remote": data.remote,
        }
    request = ActionRequest(
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
    v = evaluate(compiled, request)
    return _Verdict(
        decision=v.decision,
        rule_id=v.rule_id,
        severity=v.severity or "low",
        reason=v.reason or "",
        approvers=list(v.approvers or []),
        matched_segment=v.matched_segment,
        normalised_target=v.normalised_target or data.target,
        compliance=v.compliance,
    )


def _session_for(*, tenant, agent, data: DecisionInput) -> AgentSession | None:
    if not data.session_id:
        return None
    session = AgentSession.objects.filter(tenant=tenant, public_id=data.session_id).first()
    if session is None or (session.agent_ref and session.agent_ref != agent.public_id):
        # Another agent's session is reported exactly like a missing one.
        raise DecisionInputError(
            "session_id", "No session with this id belongs to this agent; open one first."
        )
    return session


def decide(*, tenant, agent, data: DecisionInput) -> DecisionOutcome:
    """Decide one proposed action and record it; see the module docstring for the failure rules."""
    from approvals.services import approval_check_for_action, approval_request_open
    from registry.selectors import registry_check

    try:
        rollout = _resolved_rollout(tenant=tenant, repository=data.repository, environment=data.environment)
    except DatabaseError as exc:
        logger.exception("rollout lookup failed")
        raise DecisionUnavailable("The policy store is unreachable.") from exc

    policy = {"pack": "", "version": "", "digest": "", "mode": ""}
    verdict: _Verdict
    # audit_only softens policy verdicts only, never registry or portal ones
    from_policy = rollout is not None
    if not tenant.is_usable:
        rollout, from_policy = None, False
        verdict = _Verdict(
            "block",
            "portal.tenant_inactive",
            "high",
            f"The tenant's entitlement is {tenant.get_entitlement_status_display().lower()} or expired; "
            "agents are blocked until it is renewed.",
            normalised_target=data.target,
        )
        mode = Rollout.Mode.ENFORCE
    elif rollout is None:
        verdict = _Verdict(
            "block",
            "portal.no_policy",
            "high",
            "No policy is rolled out for this repository and environment, so the portal cannot allow it.",
            normalised_target=data.target,
        )
        mode = Rollout.Mode.ENFORCE
    else:
        policy = {
            "pack": rollout.pack_id,
            "version": rollout.version,
            "digest": rollout.digest,
            "mode": rollout.mode,
        }
        mode = rollout.mode
        try:
            compiled = compiled_policy(rollout.digest, lambda: _stored_compiled_json(rollout.version_pk))
            verdict = _engine_verdict(compiled, data, agent)
        except DatabaseError as exc:
            raise DecisionUnavailable("The policy store is unreachable.") from exc
        except Exception:  # noqa: BLE001 - any engine failure must fail closed, never allow
            logger.exception("policy evaluation failed for %s", rollout.digest)
            from_policy = False
            verdict = _Verdict(
                "block",
                "portal.policy_error",
                "high",
                "The policy could not be evaluated; the action is blocked until an operator fixes it.",
                normalised_target=data.target,
            )

    try:
        objection = registry_check(
            tenant=tenant, agent=agent, action=data.action, repository=data.repository, mcp=data.mcp
        )
    except DatabaseError as exc:
        raise DecisionUnavailable("The registry is unreachable.") from exc
    if objection is not None and RANK[objection.decision] >= RANK[verdict.decision]:
        verdict = _Verdict(
            objection.decision,
            objection.rule_id,
            objection.severity,
            objection.reason,
            normalised_target=verdict.normalised_target,
        )
        from_policy = False

    would_have = None
    final = verdict.decision
    if mode == Rollout.Mode.AUDIT_ONLY and final != "allow" and from_policy:
        would_have = {"decision": final, "rule_id": verdict.rule_id, "reason": verdict.reason}
        final = "allow"
    elif mode == Rollout.Mode.STRICT and final == "allow":
        final = "require_approval"
        verdict.rule_id = verdict.rule_id or "mode.strict"
        verdict.severity = verdict.severity if verdict.rule_id != "mode.strict" else "medium"
        verdict.reason = (
            verdict.reason + " " if verdict.reason else ""
        ) + "Strict mode: every allowed action needs approval."

    digest = action_digest(
        agent_ref=agent.public_id,
        action=data.action,
        normalised_target=verdict.normalised_target,
        repository=data.repository,
        environment=data.environment,
        policy_digest=policy["digest"],
    )

    try:
        with transaction.atomic():
            approval = None
            registry_blocks = objection is not None and objection.decision == "block"
            if data.approval_id and not registry_blocks:
                # An approval (or break-glass) for exactly this action overrides the policy verdict;
                # it never overrides the registry (a suspended agent stays blocked).
                check = approval_check_for_action(
                    tenant=tenant, agent=agent, approval_id=data.approval_id, action_digest=digest
                )
                approval = check.approval
                if check.ok:
                    final, verdict.reason = "allow", check.reason
                else:
                    final, verdict.rule_id, verdict.reason = "block", "approval.mismatch", check.reason
            session = _session_for(tenant=tenant, agent=agent, data=data)
            decision = Decision(
                tenant=tenant,
                session=session,
                agent_ref=agent.public_id,
                action=data.action,
                target=data.target[:10000],
                repository=data.repository or "",
                environment=data.environment or "",
                decision=final,
                rule_id=verdict.rule_id or "",
                severity=verdict.severity,
                reason=verdict.reason,
                policy_pack=policy["pack"],
                policy_version=policy["version"],
                policy_digest=policy["digest"],
                policy_mode=policy["mode"],
                compliance=verdict.compliance or {},
                surface=classify_surface(data.action, verdict.rule_id, verdict.normalised_target),
                created_at=timezone.now(),
                context={
                    "normalised_target": verdict.normalised_target,
                    "matched_segment": verdict.matched_segment,
                    "action_digest": digest,
                    "would_have": would_have,
                    "agent_name": agent.name,
                    "request_context": data.context or {},
                    "mcp": data.mcp,
                    "git": {"operation": data.operation, "branch": data.branch, "force": data.force}
                    if data.operation
                    else None,
                },
            )
            now = timezone.now()
            if session is not None and session.last_seen_at < now - SESSION_TOUCH_INTERVAL:
                # At most once a minute: "last seen" need not cost a write on every decision.
                AgentSession.objects.filter(pk=session.pk).update(last_seen_at=now)
            opens_approval = final == "require_approval" and approval is None
            if opens_approval:
                decision.save(force_insert=True)  # the approval request points at its decision
                approval = approval_request_open(
                    tenant=tenant,
                    agent=agent,
                    decision=decision,
                    action_digest=digest,
                    action=data.action,
                    target=data.target,
                    repository=data.repository,
                    environment=data.environment,
                    rule_id=verdict.rule_id or "",
                    severity=verdict.severity,
                    reason=verdict.reason,
                    policy_pack=policy["pack"],
                    policy_digest=policy["digest"],
                    approvers_hint=verdict.approvers,
                    session=session,
                )
            record = evidence_append(
                tenant=tenant,
                kind="decision",
                subject=decision.public_id,
                payload={
                    "decision_id": decision.public_id,
                    "agent": agent.public_id,
                    "session": session.public_id if session else None,
                    "action": data.action,
                    "target": data.target[:10000],
                    "normalised_target": verdict.normalised_target,
                    "repository": data.repository,
                    "environment": data.environment,
                    "decision": final,
                    "rule_id": verdict.rule_id,
                    "severity": verdict.severity,
                    "reason": verdict.reason,
                    "policy": policy,
                    "action_digest": digest,
                    "approval": approval.public_id if approval is not None else None,
                    "would_have": would_have,
                    "compliance": decision.compliance,
                    "surface": decision.surface,
                },
                actor=f"agent:{agent.public_id}",
            )
            decision.evidence = record
            if opens_approval:
                Decision.objects.filter(pk=decision.pk).update(evidence=record)
            else:
                # The common path: one INSERT, already linked to its evidence record.
                decision.save(force_insert=True)
    except DatabaseError as exc:
        raise DecisionUnavailable("The evidence store is unreachable; nothing was decided.") from exc
    return DecisionOutcome(decision, approval, record.seq, record.hash, would_have)
