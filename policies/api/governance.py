"""Policy API for governed change: catalog, drafts, publish plans and requests, replays, signatures."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from cavra_engine.policy.vocabulary import MODES
from core.api.problems import ERRORS
from core.authz import HasCapability
from policies import selectors
from policies.models import PolicyDraft, PolicyPack, PolicyReplay, PolicyVersion, PublishPlan
from policies.services.drafts import draft_validate, policy_draft_create, policy_draft_update
from policies.services.plans import publish_plan_create, publish_request_create
from policies.services.replay import policy_replay_start
from policies.services.signing import policy_trust_root


class GovernanceAPIView(APIView):
    permission_classes = [IsAuthenticated, HasCapability]
    required_capability = "policies.publish"
    read_capability = "policies.view"

    def draft_and_body(
        self, draft_id: str, body_class: type[serializers.Serializer]
    ) -> tuple[PolicyDraft, dict]:
        """The draft in the URL (404 when the caller may not see it) and the validated request body."""
        draft = selectors.policy_draft_get(
            tenant=self.request.tenant, user=self.request.user, public_id=draft_id
        )
        body = body_class(data=self.request.data)
        body.is_valid(raise_exception=True)
        return draft, body.validated_data

    def referenced(self, get, public_id: str, *, field: str, message: str):
        """An object the body names: one the caller cannot see is a 400 naming the field, not a 404."""
        try:
            return get(tenant=self.request.tenant, user=self.request.user, public_id=public_id)
        except Http404:
            raise ValidationError({field: message})


def _iso(moment):
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def draft_json(draft: PolicyDraft) -> dict:
    return {
        "id": draft.public_id,
        "pack": draft.pack_id or None,
        "status": draft.status,
        "valid": not draft.errors,
        "digest": draft.digest or None,
        "errors": draft.errors,
        "source": draft.source_text,
        "base_version": draft.base_version.public_id if draft.base_version_id else None,
        "published_version": draft.published_version.public_id if draft.published_version_id else None,
        "author": draft.author.email if draft.author_id else None,
        "created_at": _iso(draft.created_at),
        "updated_at": _iso(draft.updated_at),
    }


def replay_json(replay: PolicyReplay, *, changed: bool = True) -> dict:
    data = {
        "id": replay.public_id,
        "status": replay.status,
        "candidate": replay.candidate_label,
        "digest": replay.candidate_digest,
        "since": _iso(replay.since),
        "until": _iso(replay.until),
        "repository": replay.repository or None,
        "environment": replay.environment or None,
        "pack": replay.pack_filter or None,
        "total": replay.total,
        "processed": replay.processed,
        "percent": replay.percent,
        "matrix": replay.matrix,
        "changed_count": replay.changed_count,
        "error": replay.error or None,
        "created_at": _iso(replay.created_at),
        "finished_at": _iso(replay.finished_at),
    }
    if changed:
        data["changed"] = replay.changed[:1000]
    return data


def plan_json(plan: PublishPlan) -> dict:
    return {
        "id": plan.public_id,
        "draft": plan.draft.public_id,
        "digest": plan.draft_digest,
        "stale": plan.draft.digest != plan.draft_digest,
        "against": {
            "id": plan.against.public_id,
            "pack": plan.against.pack.pack_id,
            "version": plan.against.version,
            "digest": plan.against.digest,
        }
        if plan.against_id
        else None,
        "risk": plan.risk,
        "reasons": plan.reasons,
        "canaries": plan.canaries,
        "tests": {"total": len(plan.tests), "failed": plan.tests_failed, "results": plan.tests},
        "diff": plan.diff,
        "replay": replay_json(plan.replay, changed=False) if plan.replay_id else None,
        "status": plan.status,
        "approval": plan.approval_ref or None,
        "created_at": _iso(plan.created_at),
    }


ANY_OBJECT = inline_serializer("PolicyObject", fields={"id": serializers.CharField()})


class PolicyPackCatalogView(GovernanceAPIView):
    @extend_schema(
        summary="Policy pack catalog",
        description="Bundled packs with their digests, and the tenant's packs with every version.",
        responses={
            200: inline_serializer(
                "PolicyPackCatalog",
                fields={"bundled": serializers.ListField(), "tenant": serializers.ListField()},
            ),
            **ERRORS,
        },
    )
    def get(self, request):
        return Response(selectors.policy_pack_catalog(tenant=request.tenant, user=request.user))


class DraftCreateSerializer(serializers.Serializer):
    version = serializers.CharField(required=False, help_text="Start from this version of the pack (pv_...).")
    source = serializers.CharField(
        required=False, trim_whitespace=False, help_text="Start from this YAML (an upload)."
    )


class DraftUpdateSerializer(serializers.Serializer):
    source = serializers.CharField(trim_whitespace=False, allow_blank=True, max_length=600_000)


class PolicyDraftCreateView(GovernanceAPIView):
    @extend_schema(
        summary="Open a draft of a pack",
        description=(
            "`pack` is a bundled pack id, one of the tenant's packs (its latest version, or `version`), or "
            "`new` for a blank pack. With `source`, the draft holds that YAML (this is how a pack is uploaded: "
            "never published directly)."
        ),
        request=DraftCreateSerializer,
        responses={201: ANY_OBJECT, **ERRORS},
    )
    def post(self, request, pack: str):
        body = DraftCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        tenant = request.tenant
        base = None
        if body.validated_data.get("version"):
            base = selectors.policy_version_get(
                tenant=tenant, user=request.user, public_id=body.validated_data["version"]
            )
            if base.pack.pack_id != pack:
                raise ValidationError(
                    {"version": f"{base.public_id} is a version of {base.pack.pack_id}, not {pack}."}
                )
        elif pack != "new":
            tenant_pack = PolicyPack.objects.filter(tenant=tenant, pack_id=pack).first()
            if tenant_pack is not None:
                base = (
                    PolicyVersion.objects.filter(tenant=tenant, pack=tenant_pack)
                    .order_by("-created_at", "-id")
                    .first()
                )
        source = body.validated_data.get("source")
        bundled = pack if base is None and pack != "new" and source is None else None
        draft = policy_draft_create(
            tenant=tenant, actor=request.user, base_version=base, bundled_pack=bundled, source_text=source
        )
        return Response(draft_json(draft), status=status.HTTP_201_CREATED)


class PolicyDraftDetailView(GovernanceAPIView):
    @extend_schema(summary="A draft, with its validation errors", responses={200: ANY_OBJECT, **ERRORS})
    def get(self, request, draft_id: str):
        return Response(
            draft_json(
                selectors.policy_draft_get(tenant=request.tenant, user=request.user, public_id=draft_id)
            )
        )

    @extend_schema(
        summary="Replace a draft's YAML",
        description="Invalid YAML or a schema error is a 400 listing each error with its line and key; the draft is unchanged.",
        request=DraftUpdateSerializer,
        responses={200: ANY_OBJECT, **ERRORS},
    )
    def put(self, request, draft_id: str):
        draft, data = self.draft_and_body(draft_id, DraftUpdateSerializer)
        compiled, errors = draft_validate(data["source"], tenant=request.tenant)
        if compiled is None:
            raise ValidationError(
                {
                    "source": [
                        f"line {e['line']}: {e['path'] + ': ' if e['path'] else ''}{e['message']}"
                        if e.get("line")
                        else e["message"]
                        for e in errors
                    ]
                }
            )
        draft = policy_draft_update(draft=draft, actor=request.user, source_text=data["source"])
        return Response(draft_json(draft))


class WindowSerializer(serializers.Serializer):
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    repository = serializers.CharField(required=False, allow_blank=True, max_length=300)
    environment = serializers.CharField(required=False, allow_blank=True, max_length=100)


class PublishPlanView(GovernanceAPIView):
    @extend_schema(
        summary="Compute a publish plan for the draft's exact digest",
        description="Semantic diff against the version in force, embedded tests, safety canaries before/after, shadow replay over the last 30 days (or the window given) and the risk class.",
        request=WindowSerializer,
        responses={201: ANY_OBJECT, **ERRORS},
    )
    def post(self, request, draft_id: str):
        draft, data = self.draft_and_body(draft_id, WindowSerializer)
        plan = publish_plan_create(
            draft=draft, actor=request.user, since=data.get("since"), until=data.get("until")
        )
        return Response(plan_json(plan), status=status.HTTP_201_CREATED)


class PublishRequestSerializer(serializers.Serializer):
    plan = serializers.CharField(
        help_text="The publish plan (ppl_...) computed for the draft's current digest."
    )
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class PublishRequestView(GovernanceAPIView):
    @extend_schema(
        summary="Request publishing a planned draft",
        description="Opens an approval (subject type policy_publish). The author may not approve it; a loosening plan needs two approvers. A plan computed for another digest (the draft changed) is refused.",
        request=PublishRequestSerializer,
        responses={201: ANY_OBJECT, **ERRORS},
    )
    def post(self, request, draft_id: str):
        draft, data = self.draft_and_body(draft_id, PublishRequestSerializer)
        plan = self.referenced(
            selectors.publish_plan_get,
            data["plan"],
            field="plan",
            message="No such publish plan in this tenant.",
        )
        if plan.draft_id != draft.pk:
            raise ValidationError({"plan": f"{plan.public_id} is a plan of another draft."})
        plan = publish_request_create(plan=plan, actor=request.user, reason=data.get("reason", ""))
        return Response(plan_json(plan), status=status.HTTP_201_CREATED)


class DraftReplayView(GovernanceAPIView):
    @extend_schema(
        summary="Shadow-replay a draft over stored decisions",
        description="Queued as a Celery task; poll GET /api/v1/replays/{id}. A window without decisions is a 400 naming `since`.",
        request=WindowSerializer,
        responses={202: ANY_OBJECT, **ERRORS},
    )
    def post(self, request, draft_id: str):
        draft, data = self.draft_and_body(draft_id, WindowSerializer)
        compiled, errors = draft_validate(draft.source_text, tenant=request.tenant)
        if compiled is None:
            raise ValidationError({"source": [e["message"] for e in errors]})
        replay = policy_replay_start(
            tenant=request.tenant,
            actor=request.user,
            compiled=compiled,
            label=f"draft {draft.public_id} ({compiled.pack_id} {compiled.version})",
            since=data.get("since"),
            until=data.get("until"),
            repository=data.get("repository", ""),
            environment=data.get("environment", ""),
        )
        return Response(replay_json(replay), status=status.HTTP_202_ACCEPTED)


class ReplayDetailView(GovernanceAPIView):
    @extend_schema(
        summary="A shadow replay: progress, before/after matrix, changed decisions",
        responses={200: ANY_OBJECT, **ERRORS},
    )
    def get(self, request, replay_id: str):
        return Response(
            replay_json(
                selectors.policy_replay_get(tenant=request.tenant, user=request.user, public_id=replay_id)
            )
        )


class VersionSignatureView(GovernanceAPIView):
    @extend_schema(
        summary="policy.yaml.sig.json of a version",
        description="Verify offline with `cavra policy verify policy.yaml --trust-root trust-root.json`. 404 when the version was published before signing existed.",
        responses={200: ANY_OBJECT, **ERRORS},
    )
    def get(self, request, version_id: str):
        version = selectors.policy_version_get(tenant=request.tenant, user=request.user, public_id=version_id)
        if not version.signature:
            raise Http404("This version is not signed.")
        return Response(version.signature)


class PolicyTrustRootView(GovernanceAPIView):
    @extend_schema(
        summary="The tenant's policy-signing public keys (trust root)", responses={200: ANY_OBJECT, **ERRORS}
    )
    def get(self, request):
        return Response(policy_trust_root(tenant=request.tenant))


def rollout_plan_json(plan) -> dict:
    return {
        "id": plan.public_id,
        "scope": plan.scope_label,
        "repository": plan.repository or None,
        "environment": plan.environment or None,
        "before": plan.before,
        "after": plan.after,
        "effective_before": plan.effective_before,
        "effective_after": plan.effective_after,
        "risk": plan.risk,
        "reasons": plan.reasons,
        "canaries": plan.canaries,
        "replay": replay_json(plan.replay, changed=False) if plan.replay_id else None,
        "status": plan.status,
        "acknowledgement_required": plan.acknowledgement_phrase if plan.risk == "loosening" else None,
        "approval": plan.approval_ref or None,
        "rollback_of": plan.rollback_of or None,
        "created_at": _iso(plan.created_at),
        "applied_at": _iso(plan.applied_at),
    }


class ChangePlanSerializer(serializers.Serializer):
    version = serializers.CharField(required=False, help_text="Policy version (pv_...) the scope should run.")
    mode = serializers.ChoiceField(choices=list(MODES), required=False, default="enforce")
    repository = serializers.CharField(required=False, allow_blank=True, max_length=300)
    environment = serializers.CharField(required=False, allow_blank=True, max_length=100)
    remove = serializers.BooleanField(required=False, default=False)
    rollback_of = serializers.CharField(required=False, help_text="An applied plan (rcp_...) to undo.")


class RolloutChangePlanView(GovernanceAPIView):
    @extend_schema(
        summary="Plan a rollout change",
        description=(
            "Before/after for the scope (and what it falls back to on removal), replay on the scope's last 7 days, "
            "safety canaries and the risk class. Nothing changes until apply-change."
        ),
        request=ChangePlanSerializer,
        responses={201: ANY_OBJECT, **ERRORS},
    )
    def post(self, request):
        from policies.services.rollout_plans import rollout_change_plan_create, rollout_change_rollback_plan

        body = ChangePlanSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if data.get("rollback_of"):
            applied = self.referenced(
                selectors.rollout_change_plan_get,
                data["rollback_of"],
                field="rollback_of",
                message="No such rollout change plan in this tenant.",
            )
            plan = rollout_change_rollback_plan(plan=applied, actor=request.user)
            return Response(rollout_plan_json(plan), status=status.HTTP_201_CREATED)
        version = None
        if not data["remove"]:
            if not data.get("version"):
                raise ValidationError(
                    {"version": "A policy version (pv_...) is required unless remove is true."}
                )
            version = self.referenced(
                selectors.policy_version_get,
                data["version"],
                field="version",
                message="No such policy version in this tenant.",
            )
        plan = rollout_change_plan_create(
            tenant=request.tenant,
            actor=request.user,
            version=version,
            mode=data["mode"],
            repository=data.get("repository", ""),
            environment=data.get("environment", ""),
            remove=data["remove"],
        )
        return Response(rollout_plan_json(plan), status=status.HTTP_201_CREATED)


class ApplyChangeSerializer(serializers.Serializer):
    plan = serializers.CharField(help_text="The rollout change plan (rcp_...).")
    acknowledgement = serializers.CharField(required=False, allow_blank=True, max_length=600)


class RolloutApplyChangeView(GovernanceAPIView):
    @extend_schema(
        summary="Apply a rollout change plan",
        description=(
            "Tightening or neutral: applied now (200). Loosening: needs `acknowledgement` equal to the plan's "
            "`acknowledgement_required` text, then opens an approval (202); a reviewer other than you applies it by approving."
        ),
        request=ApplyChangeSerializer,
        responses={200: ANY_OBJECT, 202: ANY_OBJECT, **ERRORS},
    )
    def post(self, request):
        from policies.services.rollout_plans import rollout_change_apply

        body = ApplyChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        plan = self.referenced(
            selectors.rollout_change_plan_get,
            body.validated_data["plan"],
            field="plan",
            message="No such rollout change plan in this tenant.",
        )
        plan = rollout_change_apply(
            plan=plan, actor=request.user, acknowledgement=body.validated_data.get("acknowledgement", "")
        )
        code = status.HTTP_200_OK if plan.status == "applied" else status.HTTP_202_ACCEPTED
        return Response(rollout_plan_json(plan), status=code)


class AuditResultsAPIView(GovernanceAPIView):
    @extend_schema(
        summary="Audit-mode results",
        description="For rollouts in audit_only: what would have been blocked or sent for approval, grouped by rule.",
        responses={200: ANY_OBJECT, **ERRORS},
    )
    def get(self, request):
        rows = selectors.audit_mode_results(tenant=request.tenant, user=request.user)
        return Response({"results": [{**r, "last_seen": _iso(r["last_seen"])} for r in rows]})
