"""Rollout change plans: what a scope runs before/after, replay on its recent decisions, canaries, risk;
tightening applies at once, loosening needs a typed acknowledgement and an approval; rollback is a plan too."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from cavra_engine.policy import CompiledPolicy
from cavra_engine.policy.canaries import LOOSENING, NEUTRAL, TIGHTENING, classify_risk
from cavra_engine.policy.vocabulary import MODE_RANK
from core.authz import authorize_actor
from evidence.models import Decision
from policies.decisions.resolve import rollout_resolve
from policies.models import PolicyVersion, Rollout, RolloutChangePlan
from policies.services import _rollout_snapshot, rollout_remove, rollout_set
from policies.services.canaries import tenant_canaries
from policies.services.replay import policy_replay_start
from tenants.audit import record_audit
from tenants.models import Tenant, User

SUBJECT_TYPE = "rollout_change"
REPLAY_WINDOW = timedelta(days=7)
REPLAY_INLINE_LIMIT = 20_000


def _scope_label(repository: str, environment: str) -> str:
    return f"{repository or 'all repositories'} / {environment or 'all environments'}"


def _exact(tenant: Tenant, repository: str, environment: str) -> Rollout | None:
    qs = Rollout.objects.select_related("version__pack", "repository", "environment").filter(tenant=tenant)
    qs = qs.filter(repository__name=repository) if repository else qs.filter(repository__isnull=True)
    qs = qs.filter(environment__name=environment) if environment else qs.filter(environment__isnull=True)
    return qs.first()


def _effective(rollout: Rollout | None) -> dict | None:
    snap = _rollout_snapshot(rollout)
    if snap is not None:
        snap["version_id"] = rollout.version.public_id
        snap["scope"] = rollout.scope_label
    return snap


def _compiled(version_public_id: str | None, tenant: Tenant) -> CompiledPolicy | None:
    if not version_public_id:
        return None
    version = PolicyVersion.objects.get(tenant=tenant, public_id=version_public_id)
    return CompiledPolicy.from_json(version.compiled_json)


def rollout_change_plan_create(
    *,
    tenant: Tenant,
    actor: User | None,
    version: PolicyVersion | None,
    mode: str = Rollout.Mode.ENFORCE,
    repository: str = "",
    environment: str = "",
    remove: bool = False,
    rollback_of: str = "",
) -> RolloutChangePlan:
    """Plan setting (or removing) the rollout of one exact scope; nothing changes until it is applied."""
    authorize_actor(actor, tenant, "policies.manage_rollouts")
    repository, environment = (repository or "").strip(), (environment or "").strip().lower()
    if len(repository) > 300 or any(c.isspace() or c == "\x00" for c in repository):
        raise ValidationError(
            {"repository": "A repository name like 'acme/payments' is required (no spaces)."}
        )
    if len(environment) > 100 or any(c.isspace() or c == "\x00" for c in environment):
        raise ValidationError({"environment": "An environment name like 'prod' is required (no spaces)."})
    if not remove:
        if version is None or version.tenant_id != tenant.pk:
            raise ValidationError({"version": "No such policy version in this tenant."})
        if mode not in Rollout.Mode.values:
            raise ValidationError({"mode": f"Mode must be one of: {', '.join(Rollout.Mode.values)}."})
    own = _exact(tenant, repository, environment)
    if remove and own is None:
        raise ValidationError({"scope": f"No rollout is set for {_scope_label(repository, environment)}."})
    resolved = rollout_resolve(tenant=tenant, repository=repository or None, environment=environment or None)
    effective_before = _effective(resolved)
    if remove:
        # What the scope falls back to: the next most specific rollout once this one is gone.
        fallback = None
        candidates = [
            r
            for r in Rollout.objects.select_related("version__pack", "repository", "environment").filter(
                tenant=tenant
            )
            if r.pk != own.pk
            and (r.repository_id is None or (repository and r.repository.name == repository))
            and (r.environment_id is None or (environment and r.environment.name == environment))
        ]
        if candidates:
            fallback = max(
                candidates, key=lambda r: (r.repository_id is not None, r.environment_id is not None)
            )
        effective_after = _effective(fallback)
        after = None
    else:
        after = {
            "pack": version.pack.pack_id,
            "version": version.version,
            "digest": version.digest,
            "mode": mode,
            "version_id": version.public_id,
            "scope": _scope_label(repository, environment),
        }
        # A more specific rollout of this scope's sub-scopes is untouched; for the scope itself this decides.
        effective_after = after
    old = _compiled((effective_before or {}).get("version_id"), tenant)
    new = _compiled((effective_after or {}).get("version_id"), tenant)
    risk = classify_risk(old=old, new=new, canaries=tenant_canaries(tenant=tenant))
    reasons, tight = list(risk["reasons"]), list(risk["tightening"])
    before_mode = (effective_before or {}).get("mode")
    after_mode = (effective_after or {}).get("mode")
    if before_mode and after_mode and before_mode != after_mode:
        if MODE_RANK[after_mode] < MODE_RANK[before_mode]:
            reasons.append(f"mode {before_mode} -> {after_mode}")
        else:
            tight.append(f"mode {before_mode} -> {after_mode}")
    if new is not None and effective_after is not None and new.document["pack"].get("add_on"):
        if not any("add-on" in r for r in reasons):
            reasons.append(f"{new.pack_id} is a narrow add-on and would be the only pack of this scope")
    if effective_before is None and effective_after is None:
        risk_class = NEUTRAL
    else:
        risk_class = LOOSENING if reasons else (TIGHTENING if tight else NEUTRAL)
    now = timezone.now()
    scope = Decision.objects.filter(tenant=tenant, created_at__gte=now - REPLAY_WINDOW)
    if repository:
        scope = scope.filter(repository=repository)
    if environment:
        scope = scope.filter(environment=environment)
    total = scope.count()
    with transaction.atomic():
        replay = None
        if total and new is not None:
            replay = policy_replay_start(
                tenant=tenant,
                actor=actor,
                compiled=new,
                label=f"rollout {_scope_label(repository, environment)}: {new.pack_id} {new.version}",
                version=version,
                since=now - REPLAY_WINDOW,
                until=now,
                repository=repository,
                environment=environment,
                run_now=total <= REPLAY_INLINE_LIMIT,
            )
        plan = RolloutChangePlan.objects.create(
            tenant=tenant,
            repository=repository,
            environment=environment,
            scope_label=_scope_label(repository, environment),
            before=_effective(own),
            after=after,
            effective_before=effective_before,
            effective_after=effective_after,
            version=None if remove else version,
            mode="" if remove else mode,
            risk=risk_class,
            reasons=reasons,
            canaries=risk["canaries"],
            replay=replay,
            rollback_of=rollback_of,
            created_by=actor,
        )
        record_audit(
            tenant=tenant,
            actor=actor,
            action="rollout.plan",
            obj=plan,
            object_id=plan.public_id,
            object_repr=plan.scope_label,
            before=plan.before,
            after={
                "rollout": after,
                "risk": risk_class,
                "reasons": reasons[:50],
                "rollback_of": rollback_of or None,
            },
        )
    return plan


def _refuse_if_scope_changed(plan: RolloutChangePlan) -> None:
    current = _effective(_exact(plan.tenant, plan.repository, plan.environment))
    if current != plan.before:
        raise ValidationError(
            {"plan": "This scope's rollout changed after the plan was made; make a new change plan."}
        )


def _apply(plan: RolloutChangePlan, actor: User | None, approval=None) -> RolloutChangePlan:
    _refuse_if_scope_changed(plan)
    if plan.after is None:
        rollout_remove(
            rollout=_exact(plan.tenant, plan.repository, plan.environment), actor=actor, approval=approval
        )
    else:
        rollout_set(
            tenant=plan.tenant,
            version=plan.version,
            mode=plan.mode,
            actor=actor,
            repository=plan.repository or None,
            environment=plan.environment or None,
            approval=approval,
        )
    plan.status, plan.applied_at = RolloutChangePlan.Status.APPLIED, timezone.now()
    plan.save(update_fields=["status", "applied_at"])
    return plan


def rollout_change_apply(
    *, plan: RolloutChangePlan, actor: User, acknowledgement: str = ""
) -> RolloutChangePlan:
    """Tightening/neutral: applied now. Loosening: the typed acknowledgement, then an approval by someone else."""
    authorize_actor(actor, plan.tenant, "policies.manage_rollouts")
    from approvals.services import approval_request_open_for_subject
    from core.roles import Role

    with transaction.atomic():
        plan = (
            RolloutChangePlan.objects.select_for_update(of=("self",))
            .select_related("tenant", "version")
            .get(pk=plan.pk)
        )
        if plan.status != RolloutChangePlan.Status.PLANNED:
            raise ValidationError({"plan": f"This plan is already {plan.get_status_display().lower()}."})
        _refuse_if_scope_changed(plan)
        if plan.risk != LOOSENING:
            return _apply(plan, actor)
        if (acknowledgement or "").strip() != plan.acknowledgement_phrase:
            raise ValidationError(
                {
                    "acknowledgement": f"This change loosens the policy; type exactly: {plan.acknowledgement_phrase}"
                }
            )
        approval = approval_request_open_for_subject(
            tenant=plan.tenant,
            subject_type=SUBJECT_TYPE,
            subject_ref=plan.public_id,
            requested_by=actor,
            title=f"Rollout change {plan.scope_label} (loosening)",
            reason="; ".join(plan.reasons[:5]),
            severity="critical",
            quorum=1,
            reviewer_role=Role.SECURITY_REVIEWER,
            summary={
                "risk": plan.risk,
                "reasons": plan.reasons[:20],
                "canaries_turning_allow": [c["id"] for c in plan.canaries if c.get("turns_allow")],
                "replay": {"total": plan.replay.total, "changed": plan.replay.changed_count}
                if plan.replay_id
                else None,
                "url": reverse("policies:rollout-plan", kwargs={"public_id": plan.public_id}),
            },
        )
        plan.status, plan.acknowledged, plan.approval_ref = (
            RolloutChangePlan.Status.PENDING_APPROVAL,
            acknowledgement.strip(),
            approval.public_id,
        )
        plan.save(update_fields=["status", "acknowledged", "approval_ref"])
        record_audit(
            tenant=plan.tenant,
            actor=actor,
            action="rollout.plan.acknowledge",
            obj=plan,
            object_id=plan.public_id,
            object_repr=plan.scope_label,
            after={"acknowledgement": plan.acknowledged, "approval": approval.public_id},
        )
    return plan


def rollout_change_request(
    *,
    tenant: Tenant,
    actor: User | None,
    version: PolicyVersion | None,
    mode: str = Rollout.Mode.ENFORCE,
    repository: str = "",
    environment: str = "",
    remove: bool = False,
) -> RolloutChangePlan:
    """What a person asking for a rollout change gets, through any door (page, admin): the plan, applied at
    once unless it loosens; a loosening plan stays planned for its typed acknowledgement and approval."""
    plan = rollout_change_plan_create(
        tenant=tenant,
        actor=actor,
        version=version,
        mode=mode,
        repository=repository,
        environment=environment,
        remove=remove,
    )
    if plan.risk != LOOSENING:
        plan = rollout_change_apply(plan=plan, actor=actor)
    return plan


def rollout_change_on_approval(*, approval, actor: User) -> None:
    plan = (
        RolloutChangePlan.objects.select_for_update(of=("self",))
        .select_related("tenant", "version")
        .get(tenant=approval.tenant, public_id=approval.subject_ref)
    )
    if plan.status != RolloutChangePlan.Status.PENDING_APPROVAL:
        raise ValidationError({"plan": f"This plan is {plan.get_status_display().lower()}."})
    _apply(plan, actor, approval=approval)


def rollout_change_on_denial(*, approval, actor: User) -> None:
    RolloutChangePlan.objects.filter(tenant=approval.tenant, public_id=approval.subject_ref).update(
        status=RolloutChangePlan.Status.REFUSED
    )


def rollout_change_rollback_plan(*, plan: RolloutChangePlan, actor: User | None) -> RolloutChangePlan:
    """A change plan that puts back what an applied plan replaced (itself planned, classified and applied the same way)."""
    if plan.status != RolloutChangePlan.Status.APPLIED:
        raise ValidationError({"plan": "Only an applied change can be rolled back."})
    if plan.before is None:
        return rollout_change_plan_create(
            tenant=plan.tenant,
            actor=actor,
            version=None,
            repository=plan.repository,
            environment=plan.environment,
            remove=True,
            rollback_of=plan.public_id,
        )
    version = PolicyVersion.objects.get(tenant=plan.tenant, public_id=plan.before["version_id"])
    return rollout_change_plan_create(
        tenant=plan.tenant,
        actor=actor,
        version=version,
        mode=plan.before["mode"],
        repository=plan.repository,
        environment=plan.environment,
        rollback_of=plan.public_id,
    )
