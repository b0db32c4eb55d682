"""Pages for governed policy change: drafts (editor with live validation), publish plans, replays, signatures."""

from __future__ import annotations

import csv
import io
import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views import View

from cavra_engine.policy import list_bundled_packs
from cavra_engine.policy.replay import VERDICTS
from core.authz import CapabilityRequiredMixin, can
from policies import selectors
from policies.models import Rollout
from policies.services.drafts import policy_draft_create, policy_draft_update
from policies.services.plans import publish_plan_create, publish_request_create
from policies.services.rollout_plans import rollout_change_apply, rollout_change_rollback_plan
from policies.services.signing import policy_signing_key_current, policy_signing_key_rotate, policy_trust_root


def _errors_text(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return " ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)


class DraftListView(CapabilityRequiredMixin, View):
    required_capability = "policies.view"

    def get(self, request):
        tenant = request.tenant
        context = {
            "drafts": selectors.policy_draft_list(tenant=tenant, user=request.user),
            "versions": selectors.policy_versions(tenant=tenant, user=request.user),
            "bundled": list_bundled_packs(),
            "can_write": can(request.user, tenant, "policies.publish"),
        }
        return render(request, "policies/drafts.html", context)


class DraftCreateView(CapabilityRequiredMixin, View):
    required_capability = "policies.publish"

    def post(self, request):
        tenant = request.tenant
        origin = (request.POST.get("from") or "").strip()
        try:
            if origin.startswith("pv_"):
                version = selectors.policy_version_get(tenant=tenant, user=request.user, public_id=origin)
                draft = policy_draft_create(tenant=tenant, actor=request.user, base_version=version)
            elif origin.startswith("bundled:"):
                draft = policy_draft_create(tenant=tenant, actor=request.user, bundled_pack=origin[8:])
            elif request.POST.get("source"):
                draft = policy_draft_create(
                    tenant=tenant, actor=request.user, source_text=request.POST["source"]
                )
            else:
                draft = policy_draft_create(tenant=tenant, actor=request.user)
        except (ValidationError, Http404) as exc:
            messages.error(
                request, _errors_text(exc) if isinstance(exc, ValidationError) else "No such version."
            )
            return redirect("policies:drafts")
        return redirect("policies:draft", public_id=draft.public_id)


class DraftEditorView(CapabilityRequiredMixin, View):
    """GET the editor; POST (htmx, as the operator types) autosaves and answers the validation panel."""

    required_capability = "policies.publish"
    read_capability = "policies.view"

    def get(self, request, public_id: str):
        draft = selectors.policy_draft_get(tenant=request.tenant, user=request.user, public_id=public_id)
        return render(request, "policies/draft.html", self._context(request, draft))

    def _context(self, request, draft) -> dict:
        return {
            "draft": draft,
            "plans": draft.plans.order_by("-created_at")[:10],
            "can_write": can(request.user, request.tenant, "policies.publish"),
            "line_count": range(1, draft.source_text.count("\n") + 2),
        }

    def post(self, request, public_id: str):
        draft = selectors.policy_draft_get(tenant=request.tenant, user=request.user, public_id=public_id)
        status = 200
        try:
            draft = policy_draft_update(
                draft=draft, actor=request.user, source_text=request.POST.get("source", "")
            )
        except ValidationError as exc:
            messages.error(request, _errors_text(exc))
            status = 400
        context = self._context(request, draft)
        if request.htmx:
            return render(request, "policies/draft.html#validation", context, status=status)
        return (
            redirect("policies:draft", public_id=draft.public_id)
            if status == 200
            else render(request, "policies/draft.html", context, status=status)
        )


class DraftPlanView(CapabilityRequiredMixin, View):
    required_capability = "policies.publish"

    def post(self, request, public_id: str):
        draft = selectors.policy_draft_get(tenant=request.tenant, user=request.user, public_id=public_id)
        try:
            plan = publish_plan_create(draft=draft, actor=request.user)
        except ValidationError as exc:
            messages.error(request, _errors_text(exc))
            return redirect("policies:draft", public_id=draft.public_id)
        return redirect("policies:plan", public_id=plan.public_id)


def _plan_context(request, plan, **extra) -> dict:
    """What a publish plan and a rollout change plan page both show: canaries turning allow, the replay
    matrix, and whether the reader may act on the plan."""
    return {
        "plan": plan,
        "turning": [c for c in plan.canaries if c.get("turns_allow")],
        "matrix": _matrix_rows(plan.replay) if plan.replay_id else None,
        "can_write": can(request.user, request.tenant, "policies.publish"),
        **extra,
    }


class PlanView(CapabilityRequiredMixin, View):
    required_capability = "policies.view"

    def get(self, request, public_id: str):
        plan = selectors.publish_plan_get(tenant=request.tenant, user=request.user, public_id=public_id)
        context = _plan_context(request, plan, stale=plan.draft.digest != plan.draft_digest)
        return render(request, "policies/plan.html", context)


class PlanRequestView(CapabilityRequiredMixin, View):
    required_capability = "policies.publish"

    def post(self, request, public_id: str):
        plan = selectors.publish_plan_get(tenant=request.tenant, user=request.user, public_id=public_id)
        try:
            plan = publish_request_create(
                plan=plan, actor=request.user, reason=request.POST.get("reason", "")
            )
        except ValidationError as exc:
            messages.error(request, _errors_text(exc))
        else:
            messages.success(
                request, f"Publish requested: approval {plan.approval_ref} is in the reviewers' queue."
            )
        return redirect("policies:plan", public_id=plan.public_id)


def _matrix_rows(replay) -> list[dict]:
    matrix = replay.matrix or {}
    return [
        {"before": b, "cells": [(a, (matrix.get(b) or {}).get(a, 0)) for a in VERDICTS]} for b in VERDICTS
    ]


class ReplayView(CapabilityRequiredMixin, View):
    required_capability = "policies.view"

    def get(self, request, public_id: str):
        replay = selectors.policy_replay_get(tenant=request.tenant, user=request.user, public_id=public_id)
        context = {"replay": replay, "matrix": _matrix_rows(replay), "changed": replay.changed[:500]}
        if request.htmx:
            return render(request, "policies/replay.html#progress", context)
        return render(request, "policies/replay.html", context)


class ReplayExportView(CapabilityRequiredMixin, View):
    required_capability = "policies.view"

    def get(self, request, public_id: str):
        replay = selectors.policy_replay_get(tenant=request.tenant, user=request.user, public_id=public_id)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(
            [
                "decision_id",
                "created_at",
                "action",
                "target",
                "repository",
                "environment",
                "before",
                "before_rule",
                "after",
                "after_rule",
                "after_reason",
            ]
        )
        for row in replay.changed:
            writer.writerow(
                [
                    row.get("decision_id"),
                    row.get("created_at"),
                    row["action"],
                    row["target"],
                    row.get("repository"),
                    row.get("environment"),
                    row["before"]["decision"],
                    row["before"].get("rule_id") or "",
                    row["after"]["decision"],
                    row["after"].get("rule_id") or "",
                    row["after"].get("reason") or "",
                ]
            )
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{replay.public_id}-changed.csv"'
        return response


class VersionSourceView(CapabilityRequiredMixin, View):
    required_capability = "policies.view"

    def get(self, request, public_id: str):
        version = selectors.policy_version_get(tenant=request.tenant, user=request.user, public_id=public_id)
        response = HttpResponse(version.source_text, content_type="application/yaml; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="policy.yaml"'
        return response


class VersionSignatureDownloadView(CapabilityRequiredMixin, View):
    required_capability = "policies.view"

    def get(self, request, public_id: str):
        version = selectors.policy_version_get(tenant=request.tenant, user=request.user, public_id=public_id)
        if not version.signature:
            raise Http404("This version is not signed.")
        response = HttpResponse(json.dumps(version.signature, indent=2), content_type="application/json")
        response["Content-Disposition"] = 'attachment; filename="policy.yaml.sig.json"'
        return response


class SigningKeyView(CapabilityRequiredMixin, View):
    """The tenant's policy-signing public key(s) and the trust root download; tenant admins rotate."""

    required_capability = "policies.view"

    def get(self, request):
        if request.GET.get("download") == "trust-root":
            response = HttpResponse(
                json.dumps(policy_trust_root(tenant=request.tenant), indent=2),
                content_type="application/json",
            )
            response["Content-Disposition"] = 'attachment; filename="policy-trust-root.json"'
            return response
        context = {
            "trust_root": policy_trust_root(tenant=request.tenant),
            "can_rotate": can(request.user, request.tenant, "policies.manage_signing"),
        }
        return render(request, "policies/signing.html", context)


class SigningKeyRotateView(CapabilityRequiredMixin, View):
    required_capability = "policies.manage_signing"

    def post(self, request):
        policy_signing_key_current(tenant=request.tenant)
        key = policy_signing_key_rotate(tenant=request.tenant, actor=request.user)
        messages.success(request, f"New policy-signing key {key.key_id}; earlier versions stay verifiable.")
        return redirect("policies:signing")


class RolloutPlanView(CapabilityRequiredMixin, View):
    required_capability = "policies.view"

    def get(self, request, public_id: str):
        plan = selectors.rollout_change_plan_get(
            tenant=request.tenant, user=request.user, public_id=public_id
        )
        return render(request, "policies/rollout_plan.html", _plan_context(request, plan))


class RolloutPlanApplyView(CapabilityRequiredMixin, View):
    required_capability = "policies.publish"

    def post(self, request, public_id: str):
        plan = selectors.rollout_change_plan_get(
            tenant=request.tenant, user=request.user, public_id=public_id
        )
        try:
            plan = rollout_change_apply(
                plan=plan, actor=request.user, acknowledgement=request.POST.get("acknowledgement", "")
            )
        except ValidationError as exc:
            messages.error(request, _errors_text(exc))
        else:
            if plan.status == "applied":
                messages.success(request, f"Applied to {plan.scope_label}.")
            else:
                messages.success(
                    request, f"Acknowledged; approval {plan.approval_ref} is in the reviewers' queue."
                )
        return redirect("policies:rollout-plan", public_id=plan.public_id)


class RolloutPlanRollbackView(CapabilityRequiredMixin, View):
    required_capability = "policies.publish"

    def post(self, request, public_id: str):
        plan = selectors.rollout_change_plan_get(
            tenant=request.tenant, user=request.user, public_id=public_id
        )
        try:
            back = rollout_change_rollback_plan(plan=plan, actor=request.user)
        except ValidationError as exc:
            messages.error(request, _errors_text(exc))
            return redirect("policies:rollout-plan", public_id=plan.public_id)
        return redirect("policies:rollout-plan", public_id=back.public_id)


class AuditResultsView(CapabilityRequiredMixin, View):
    """Rollouts in audit_only: what would have been blocked or sent for approval, grouped by rule."""

    required_capability = "policies.view"

    def get(self, request):
        context = {
            "results": selectors.audit_mode_results(tenant=request.tenant, user=request.user),
            "audit_rollouts": selectors.rollouts(tenant=request.tenant, user=request.user).filter(
                mode=Rollout.Mode.AUDIT_ONLY
            ),
        }
        return render(request, "policies/audit_results.html", context)


class CanariesView(CapabilityRequiredMixin, View):
    """The safety canaries: the shipped list (read-only) and the tenant's own list (YAML), checked by every plan."""

    required_capability = "policies.publish"
    read_capability = "policies.view"

    def _render(self, request, *, text=None, error=None, status=200):
        from cavra_engine.policy.canaries import load_canaries
        from policies.models import TenantCanaries

        row = TenantCanaries.objects.filter(tenant=request.tenant).first()
        context = {
            "shipped": load_canaries(),
            "own_text": text if text is not None else (row.source_text if row else ""),
            "error": error,
            "can_write": can(request.user, request.tenant, "policies.publish"),
        }
        return render(request, "policies/canaries.html", context, status=status)

    def get(self, request):
        return self._render(request)

    def post(self, request):
        from policies.services.canaries import tenant_canaries_set

        text = request.POST.get("canaries", "")
        try:
            tenant_canaries_set(tenant=request.tenant, actor=request.user, source_text=text)
        except ValidationError as exc:
            return self._render(request, text=text, error=_errors_text(exc), status=422)
        messages.success(request, "Canaries saved; every new plan checks them.")
        return redirect("policies:canaries")
