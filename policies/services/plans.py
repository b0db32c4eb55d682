"""Publish plans for a draft's exact digest, publish requests through approvals, and the signed publish itself."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from cavra_engine.policy import CompiledPolicy, diff_packs, run_pack_tests
from cavra_engine.policy.canaries import LOOSENING, classify_risk
from core.authz import authorize_actor
from evidence.models import Decision
from policies.models import (
    PolicyDraft,
    PolicyPack,
    PolicyReplay,
    PolicyVersion,
    PublishPlan,
    Rollout,
)
from policies.services import _rollout_change_record, _rollout_snapshot
from policies.services.canaries import tenant_canaries
from policies.services.drafts import draft_validate
from policies.services.replay import policy_replay_start
from policies.services.versions import policy_publish_record, policy_version_store
from tenants.audit import record_audit
from tenants.models import Tenant, User

SUBJECT_TYPE = "policy_publish"
REPLAY_WINDOW = timedelta(days=30)
REPLAY_INLINE_LIMIT = 20_000  # bigger windows run as a Celery task; the plan shows its progress
LOOSENING_APPROVERS = 2


def _version_in_force(*, tenant: Tenant, draft: PolicyDraft) -> PolicyVersion | None:
    """What the draft is compared with: the latest version of its pack, else its base, else the tenant default."""
    latest = (
        PolicyVersion.objects.filter(tenant=tenant, pack__pack_id=draft.pack_id)
        .select_related("pack")
        .order_by("-created_at", "-id")
        .first()
    )
    if latest is not None:
        return latest
    if draft.base_version_id:
        return draft.base_version
    default = (
        Rollout.objects.filter(tenant=tenant, repository=None, environment=None)
        .select_related("version__pack")
        .first()
    )
    return default.version if default else None


def _stored(version: PolicyVersion) -> CompiledPolicy:
    return CompiledPolicy.from_json(version.compiled_json)


def publish_plan_create(*, draft: PolicyDraft, actor: User | None, since=None, until=None) -> PublishPlan:
    """Compute and store what publishing this draft's current digest would do; an invalid draft is refused."""
    tenant = draft.tenant
    authorize_actor(actor, tenant, "policies.publish")
    compiled, errors = draft_validate(draft.source_text, tenant=tenant)
    if compiled is None:
        raise ValidationError(
            {
                "source": [
                    f"line {e['line']}: {e['message']}" if e.get("line") else e["message"] for e in errors
                ]
            }
        )
    if draft.status == PolicyDraft.Status.PUBLISHED:
        raise ValidationError({"draft": "This draft was already published."})
    against = _version_in_force(tenant=tenant, draft=draft)
    old = _stored(against) if against else None
    diff = diff_packs(old, compiled) if old is not None else {}
    risk = classify_risk(old=old, new=compiled, diff=diff or None, canaries=tenant_canaries(tenant=tenant))
    tests = [r.to_dict() for r in run_pack_tests(compiled)]
    failed = sum(1 for t in tests if not t["passed"])
    if failed:
        risk["reasons"].append(f"{failed} embedded test(s) fail")
    until = until or timezone.now()
    since = since or until - REPLAY_WINDOW
    replay = None
    scope = Decision.objects.filter(tenant=tenant, created_at__gte=since, created_at__lt=until)
    if against is not None:
        scope = scope.filter(policy_pack=against.pack.pack_id)
    total = scope.count()
    with transaction.atomic():
        if total:
            replay = policy_replay_start(
                tenant=tenant,
                actor=actor,
                compiled=compiled,
                label=f"draft {draft.public_id} ({compiled.pack_id} {compiled.version})",
                since=since,
                until=until,
                pack_filter=against.pack.pack_id if against else "",
                run_now=total <= REPLAY_INLINE_LIMIT,
            )
        plan = PublishPlan.objects.create(
            tenant=tenant,
            draft=draft,
            draft_digest=compiled.digest,
            against=against,
            risk=risk["risk"],
            reasons=risk["reasons"],
            diff=diff,
            tests=tests,
            tests_failed=failed,
            canaries=risk["canaries"],
            replay=replay,
            created_by=actor,
        )
        record_audit(
            tenant=tenant,
            actor=actor,
            action="policy.plan",
            obj=plan,
            object_id=plan.public_id,
            after={
                "draft": draft.public_id,
                "digest": compiled.digest,
                "against": against.digest if against else None,
                "risk": risk["risk"],
                "reasons": risk["reasons"][:50],
                "canaries_turning_allow": risk["canaries_turning_allow"],
                "tests_failed": failed,
                "replay": replay.public_id if replay else None,
            },
        )
    return plan


def _plan_summary(plan: PublishPlan) -> dict:
    replay = plan.replay
    return {
        "plan": plan.public_id,
        "draft": plan.draft.public_id,
        "pack": plan.draft.pack_id,
        "digest": plan.draft_digest,
        "risk": plan.risk,
        "reasons": plan.reasons[:20],
        "canaries_turning_allow": [c["id"] for c in plan.canaries if c.get("turns_allow")],
        "replay": {
            "id": replay.public_id,
            "total": replay.total,
            "changed": replay.changed_count,
            "status": replay.status,
        }
        if replay
        else None,
        "url": reverse("policies:plan", kwargs={"public_id": plan.public_id}),
    }


def _refuse_if_stale(plan: PublishPlan, draft: PolicyDraft) -> None:
    if draft.digest != plan.draft_digest:
        raise ValidationError(
            {
                "plan": f"The draft changed after this plan (plan digest {plan.draft_digest[:12]}, draft now "
                f"{(draft.digest or 'invalid')[:12]}); compute a new publish plan."
            }
        )


def publish_request_create(*, plan: PublishPlan, actor: User, reason: str = "") -> PublishPlan:
    """Send a plan to review through approvals: one approver, two when it loosens; never its author."""
    from approvals.services import approval_request_open_for_subject
    from core.roles import Role

    authorize_actor(actor, plan.tenant, "policies.publish")
    reason = (reason or "").strip()
    with transaction.atomic():
        plan = (
            PublishPlan.objects.select_for_update(of=("self",))
            .select_related("draft", "replay")
            .get(pk=plan.pk)
        )
        draft = PolicyDraft.objects.select_for_update().get(pk=plan.draft_id)
        _refuse_if_stale(plan, draft)
        if plan.status != PublishPlan.Status.PLANNED:
            raise ValidationError({"plan": f"This plan is already {plan.get_status_display().lower()}."})
        if plan.tests_failed:
            raise ValidationError(
                {"plan": f"{plan.tests_failed} embedded test(s) fail; fix them before publishing."}
            )
        if plan.replay_id and plan.replay.status not in (PolicyReplay.Status.DONE,):
            raise ValidationError(
                {"plan": "The shadow replay has not finished; wait for it before requesting publish."}
            )
        loosening = plan.risk == LOOSENING
        approval = approval_request_open_for_subject(
            tenant=plan.tenant,
            subject_type=SUBJECT_TYPE,
            subject_ref=plan.public_id,
            requested_by=actor,
            title=f"Publish {draft.pack_id} (digest {plan.draft_digest[:12]}, {plan.risk})",
            reason=reason or f"Publish policy {draft.pack_id}.",
            severity="critical" if loosening else "high",
            quorum=LOOSENING_APPROVERS if loosening else 1,
            reviewer_role=Role.SECURITY_REVIEWER,
            summary=_plan_summary(plan),
        )
        plan.status, plan.approval_ref = PublishPlan.Status.REQUESTED, approval.public_id
        plan.save(update_fields=["status", "approval_ref"])
        draft.status = PolicyDraft.Status.PUBLISH_REQUESTED
        draft.save(update_fields=["status"])
        record_audit(
            tenant=plan.tenant,
            actor=actor,
            action="policy.publish_request",
            obj=plan,
            object_id=plan.public_id,
            after={
                "approval": approval.public_id,
                "risk": plan.risk,
                "quorum": approval.quorum,
                "digest": plan.draft_digest,
            },
        )
    return plan


def policy_publish_on_approval(*, approval, actor: User) -> PolicyVersion:
    """Approvals handler (runs in the approving transaction): publish, sign and roll forward, or refuse."""
    plan = (
        PublishPlan.objects.select_for_update(of=("self",))
        .select_related("draft", "against__pack", "tenant")
        .get(tenant=approval.tenant, public_id=approval.subject_ref)
    )
    draft = PolicyDraft.objects.select_for_update().get(pk=plan.draft_id)
    _refuse_if_stale(plan, draft)
    compiled, _ = draft_validate(draft.source_text, tenant=plan.tenant)
    if (
        compiled is None or compiled.digest != plan.draft_digest
    ):  # the stored digest and the source must agree, exactly
        raise ValidationError({"plan": "The draft's source no longer compiles to the planned digest."})
    tenant = plan.tenant
    pack, _ = PolicyPack.objects.get_or_create(
        tenant=tenant,
        pack_id=compiled.pack_id,
        defaults={"title": compiled.title or compiled.pack_id, "source": PolicyPack.Source.UPLOADED},
    )
    version, _ = policy_version_store(
        tenant=tenant,
        pack=pack,
        compiled=compiled,
        text=draft.source_text,
        created_by=draft.author,
        plan_ref=plan.public_id,
    )
    # The new version takes the place of the previous versions of its pack wherever they run.
    moved = []
    for rollout in (
        Rollout.objects.select_for_update(of=("self",))
        .select_related("version__pack", "repository", "environment")
        .filter(tenant=tenant, version__pack=pack)
        .exclude(version=version)
    ):
        before = _rollout_snapshot(rollout)
        rollout.version, rollout.updated_by, rollout.updated_at = version, actor, timezone.now()
        rollout.save(update_fields=["version", "updated_by", "updated_at"])
        _rollout_change_record(rollout=rollout, before=before, actor=actor)
        moved.append(rollout.public_id)
    plan.status = PublishPlan.Status.PUBLISHED
    plan.save(update_fields=["status"])
    draft.status, draft.published_version = PolicyDraft.Status.PUBLISHED, version
    draft.save(update_fields=["status", "published_version"])
    policy_publish_record(
        version=version,
        actor=actor,
        plan=plan.public_id,
        approval=approval.public_id,
        requested_by=approval.requested_by.email if approval.requested_by_id else None,
        risk=plan.risk,
        signature={"key_id": version.signature["key_id"], "signature": version.signature["signature"]},
        rollouts_moved=moved,
    )
    return version


def policy_publish_on_denial(*, approval, actor: User) -> None:
    """A denied publish request returns the draft to editing; the plan is kept, refused."""
    plan = PublishPlan.objects.select_for_update().get(tenant=approval.tenant, public_id=approval.subject_ref)
    plan.status = PublishPlan.Status.REFUSED
    plan.save(update_fields=["status"])
    PolicyDraft.objects.filter(pk=plan.draft_id, status=PolicyDraft.Status.PUBLISH_REQUESTED).update(
        status=PolicyDraft.Status.OPEN
    )
