"""Reads for policies, rollouts and the activity (sessions and decisions), scoped to tenant and caller."""

from __future__ import annotations

from django.db.models import QuerySet

from core.authz import can, get_for_tenant_or_404
from evidence.models import AgentSession, Decision
from policies.models import PolicyPack, PolicyVersion, Rollout, RolloutChange


def _agent_of(user):
    return getattr(user, "agent", None) if getattr(user, "is_agent", False) else None


def can_read_activity(user, tenant) -> bool:
    agent = _agent_of(user)
    if agent is not None:
        return agent.tenant_id == tenant.pk
    return can(user, tenant, "policies.view_activity")


def _activity(model, *, tenant, user) -> QuerySet:
    """Rows of an activity model the caller may see: an agent only its own, a member with an activity role all."""
    if not can_read_activity(user, tenant):
        return model.objects.none()
    qs = model.objects.filter(tenant=tenant)
    agent = _agent_of(user)
    return qs if agent is None else qs.filter(agent_ref=agent.public_id)


def decision_list(*, tenant, user) -> QuerySet[Decision]:
    return _activity(Decision, tenant=tenant, user=user).select_related("session", "evidence")


def decision_get(*, tenant, user, public_id: str) -> Decision:
    return get_for_tenant_or_404(decision_list(tenant=tenant, user=user), tenant, public_id=public_id)


def session_list(*, tenant, user) -> QuerySet[AgentSession]:
    return _activity(AgentSession, tenant=tenant, user=user)


def session_get(*, tenant, user, public_id: str) -> AgentSession:
    return get_for_tenant_or_404(session_list(tenant=tenant, user=user), tenant, public_id=public_id)


def policy_versions(*, tenant, user) -> QuerySet[PolicyVersion]:
    return (
        PolicyVersion.objects.visible_to(user, "policies.view", tenant=tenant)
        .select_related("pack")
        .order_by("pack__pack_id", "-created_at")
    )


def policy_packs(*, tenant, user) -> QuerySet[PolicyPack]:
    return PolicyPack.objects.visible_to(user, "policies.view", tenant=tenant).order_by("pack_id")


def policy_version_get(*, tenant, user, public_id: str) -> PolicyVersion:
    return get_for_tenant_or_404(policy_versions(tenant=tenant, user=user), tenant, public_id=public_id)


def policy_version_previous(*, version: PolicyVersion) -> PolicyVersion | None:
    """The version of the same pack stored just before this one, if any (what this one changes)."""
    return (
        PolicyVersion.objects.filter(
            tenant=version.tenant_id, pack=version.pack_id, created_at__lt=version.created_at
        )
        .order_by("-created_at", "-id")
        .first()
    )


def policy_version_changes(*, version: PolicyVersion) -> dict | None:
    """The semantic diff from the previous version: rules added, removed, tightened, loosened."""
    from cavra_engine.policy import diff_packs
    from policies.decisions import compiled_policy

    previous = policy_version_previous(version=version)
    if previous is None:
        return None
    changes = diff_packs(
        compiled_policy(previous.digest, lambda: previous.compiled_json),
        compiled_policy(version.digest, lambda: version.compiled_json),
    )
    changes["previous"] = previous
    return changes


def rollouts(*, tenant, user) -> QuerySet[Rollout]:
    return Rollout.objects.visible_to(user, "policies.view", tenant=tenant).select_related(
        "version__pack", "repository", "environment"
    )


def rollout_get(*, tenant, user, public_id: str) -> Rollout:
    return get_for_tenant_or_404(rollouts(tenant=tenant, user=user), tenant, public_id=public_id)


def rollout_history(*, tenant, user, limit: int = 20) -> list[RolloutChange]:
    if not can(user, tenant, "policies.view"):
        return []
    return list(RolloutChange.objects.filter(tenant=tenant).select_related("actor")[:limit])


# --- governed policy change: drafts, plans, replays, versions (404 for another tenant's or a missing one) ---


def policy_draft_get(*, tenant, user, public_id: str):
    from policies.models import PolicyDraft

    return get_for_tenant_or_404(
        PolicyDraft.objects.select_related("author", "base_version__pack"), tenant, public_id=public_id
    )


def policy_draft_list(*, tenant, user):
    from policies.models import PolicyDraft

    return (
        PolicyDraft.objects.filter(tenant=tenant)
        .select_related("author")
        .order_by("-updated_at", "-id")[:200]
    )


def publish_plan_get(*, tenant, user, public_id: str):
    from policies.models import PublishPlan

    return get_for_tenant_or_404(
        PublishPlan.objects.select_related("draft", "against__pack", "replay", "created_by"),
        tenant=tenant,
        public_id=public_id,
    )


def policy_replay_get(*, tenant, user, public_id: str):
    from policies.models import PolicyReplay

    return get_for_tenant_or_404(
        PolicyReplay.objects.select_related("version__pack"), tenant, public_id=public_id
    )


def policy_pack_catalog(*, tenant, user) -> dict:
    """Bundled packs (with their shipped digests) and the tenant's packs with every version."""
    from cavra_engine.policy import list_bundled_packs

    packs = []
    for pack in PolicyPack.objects.filter(tenant=tenant).prefetch_related("versions").order_by("pack_id"):
        packs.append(
            {
                "pack": pack.pack_id,
                "public_id": pack.public_id,
                "title": pack.title,
                "source": pack.source,
                "versions": [
                    {
                        "id": v.public_id,
                        "version": v.version,
                        "digest": v.digest,
                        "signed": bool(v.signature),
                        "created_at": v.created_at,
                    }
                    for v in sorted(pack.versions.all(), key=lambda v: (v.created_at, v.pk), reverse=True)
                ],
            }
        )
    bundled = [
        {"pack": i.id, "title": i.title, "version": i.version, "digest": i.digest}
        for i in list_bundled_packs()
    ]
    return {"bundled": bundled, "tenant": packs}


def rollout_change_plan_get(*, tenant, user, public_id: str):
    from policies.models import RolloutChangePlan

    return get_for_tenant_or_404(
        RolloutChangePlan.objects.select_related("version__pack", "replay", "created_by"),
        tenant,
        public_id=public_id,
    )


def audit_mode_results(*, tenant, user, since=None) -> list[dict]:
    """What audit_only rollouts let through that policy would have blocked or sent for approval, by rule."""
    from django.db.models import Count, Max
    from django.db.models.fields.json import KeyTextTransform

    qs = Decision.objects.filter(
        tenant=tenant, policy_mode="audit_only", context__would_have__isnull=False
    ).exclude(context__would_have=None)
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    rows = (
        qs.annotate(
            would_rule=KeyTextTransform("rule_id", KeyTextTransform("would_have", "context")),
            would_decision=KeyTextTransform("decision", KeyTextTransform("would_have", "context")),
        )
        .values("would_rule", "would_decision")
        .annotate(
            count=Count("id"), last_seen=Max("created_at"), repositories=Count("repository", distinct=True)
        )
        .order_by("-count", "would_rule")
    )
    return [
        {
            "rule_id": r["would_rule"] or "",
            "would_have": r["would_decision"],
            "count": r["count"],
            "repositories": r["repositories"],
            "last_seen": r["last_seen"],
        }
        for r in rows[:500]
    ]
