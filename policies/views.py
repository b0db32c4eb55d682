"""Pages: policy packs and rollouts (operators), and the activity explorer (sessions and decisions)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views import View

from cavra_engine.policy import list_bundled_packs
from core.authz import CapabilityRequiredMixin, can
from core.table_views import TableListView
from evidence.models import Decision
from policies.filtersets import DecisionPageFilterSet, SessionFilterSet
from policies.forms import BundledInstallForm, PackUploadForm, RolloutForm
from policies.selectors import (
    decision_get,
    decision_list,
    policy_version_changes,
    policy_version_get,
    policy_versions,
    rollout_get,
    rollout_history,
    rollouts,
    session_get,
    session_list,
)
from policies.services import policy_pack_install_bundled
from policies.services.drafts import draft_validate, policy_draft_create
from policies.services.rollout_plans import rollout_change_plan_create, rollout_change_request
from policies.tables import DecisionTable, SessionTable
from tenants.forms import apply_service_errors


def _located(errors: list[dict]) -> list[str]:
    return [
        ", ".join(p for p in (f"line {e['line']}" if e.get("line") else "", e.get("path") or "") if p)
        + (": " if e.get("line") or e.get("path") else "")
        + e["message"]
        for e in errors
    ]


class PoliciesView(CapabilityRequiredMixin, View):
    required_capability = "policies.view"

    def get(self, request):
        return self._render(request)

    def _render(self, request, *, upload=None, rollout=None, status=200):
        tenant = request.tenant
        installed = {v.pack.pack_id for v in policy_versions(tenant=tenant, user=request.user)}
        context = {
            "versions": policy_versions(tenant=tenant, user=request.user),
            "rollouts": rollouts(tenant=tenant, user=request.user),
            "history": rollout_history(tenant=tenant, user=request.user),
            "bundled": [p for p in list_bundled_packs() if p.id not in installed],
            "upload_form": upload or PackUploadForm(),
            "rollout_form": rollout or RolloutForm(),
            "can_write": can(request.user, tenant, "policies.publish"),
        }
        return render(request, "policies/policies.html", context, status=status)


class PackUploadView(PoliciesView):
    required_capability = "policies.publish"
    http_method_names = ["post"]

    def post(self, request):
        # An upload becomes a draft, never a published version: publishing goes through a plan and review.
        form = PackUploadForm(request.POST, request.FILES)
        if form.is_valid():
            text = form.cleaned_data["source"]
            _, errors = draft_validate(text, tenant=request.tenant)
            try:
                if errors:
                    raise ValidationError({"source": _located(errors)})
                draft = policy_draft_create(tenant=request.tenant, actor=request.user, source_text=text)
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(
                    request,
                    f"Stored as draft {draft.public_id} ({draft.pack_id}); compute a publish plan to publish it.",
                )
                return redirect("policies:draft", public_id=draft.public_id)
        return self._render(request, upload=form, status=422)


class BundledInstallView(PoliciesView):
    required_capability = "policies.publish"
    http_method_names = ["post"]

    def post(self, request):
        form = BundledInstallForm(request.POST)
        if form.is_valid():
            try:
                version = policy_pack_install_bundled(
                    tenant=request.tenant, pack_id=form.cleaned_data["pack_id"], actor=request.user
                )
            except ValidationError as exc:
                messages.error(request, "; ".join(exc.messages))
                return self._render(request, status=422)
            messages.success(request, f"Installed {version.pack.pack_id} {version.version}.")
            return redirect("policies:index")
        messages.error(request, "Choose a bundled pack.")
        return self._render(request, status=422)


class RolloutSetView(PoliciesView):
    required_capability = "policies.manage_rollouts"
    http_method_names = ["post"]

    def post(self, request):
        form = RolloutForm(request.POST)
        if form.is_valid():
            try:
                version = policy_version_get(
                    tenant=request.tenant, user=request.user, public_id=form.cleaned_data["version"]
                )
            except Http404:  # another tenant's or an unknown version: a field error, never a leak
                form.add_error("version", "Choose a policy version of this tenant.")
            else:
                # Every rollout change goes through a change plan: tightening applies at once,
                # loosening stops at the plan page (typed acknowledgement, then an approval).
                try:
                    plan = rollout_change_request(
                        tenant=request.tenant,
                        actor=request.user,
                        version=version,
                        mode=form.cleaned_data["mode"],
                        repository=form.cleaned_data["repository"] or "",
                        environment=form.cleaned_data["environment"] or "",
                    )
                except ValidationError as exc:
                    apply_service_errors(form, exc)
                else:
                    if plan.risk == "loosening":
                        messages.warning(
                            request, "This change loosens the policy: review the plan to apply it."
                        )
                        return redirect("policies:rollout-plan", public_id=plan.public_id)
                    messages.success(request, f"Rollout saved ({plan.risk}).")
                    return redirect("policies:index")
        return self._render(request, rollout=form, status=422)


class RolloutRemoveView(CapabilityRequiredMixin, View):
    required_capability = "policies.manage_rollouts"
    http_method_names = ["post"]

    def post(self, request, public_id: str):
        rollout = rollout_get(tenant=request.tenant, user=request.user, public_id=public_id)
        plan = rollout_change_plan_create(
            tenant=request.tenant,
            actor=request.user,
            version=None,
            repository=rollout.repository.name if rollout.repository_id else "",
            environment=rollout.environment.name if rollout.environment_id else "",
            remove=True,
        )
        # Removal is confirmed on the plan page, which shows what the scope falls back to.
        return redirect("policies:rollout-plan", public_id=plan.public_id)


class VersionDetailView(CapabilityRequiredMixin, View):
    required_capability = "policies.view"

    def get(self, request, public_id: str):
        version = policy_version_get(tenant=request.tenant, user=request.user, public_id=public_id)
        changes = policy_version_changes(version=version)
        return render(request, "policies/version.html", {"version": version, "changes": changes})


class ActivityView(TableListView):
    """Decisions with filters and a sortable table; `as_view(export=True)` is the same list as CSV."""

    required_capability = "policies.view_activity"
    filterset_class, table_class = DecisionPageFilterSet, DecisionTable
    template, filter_form = "policies/activity.html", "activity-filters"
    export_url_name, export_filename = "policies:activity-export", "decisions"

    def get_queryset(self, request):
        return decision_list(tenant=request.tenant, user=request.user)

    def rows(self, queryset):
        return queryset.order_by("-created_at", "-id")

    def extra_context(self, request, table) -> dict:
        return {"total": len(table.rows), "counts": _counts(table.data.data)}


def _counts(qs) -> dict:
    from django.db.models import Count

    rows = qs.order_by().values("decision").annotate(n=Count("id"))
    counts = {row["decision"]: row["n"] for row in rows}
    return {v: counts.get(v, 0) for v in Decision.Verdict.values}


class DecisionDetailPage(CapabilityRequiredMixin, View):
    required_capability = "policies.view_activity"

    def get(self, request, public_id: str):
        decision = decision_get(tenant=request.tenant, user=request.user, public_id=public_id)
        return render(request, "policies/decision.html", {"d": decision})


class SessionsView(TableListView):
    """Agent sessions with filters (the API's FilterSet) and a sortable table; CSV with `export=True`."""

    required_capability = "policies.view_activity"
    filterset_class, table_class = SessionFilterSet, SessionTable
    template, filter_form = "policies/sessions.html", "session-filters"
    export_url_name, export_filename = "policies:sessions-export", "sessions"

    def get_queryset(self, request):
        return session_list(tenant=request.tenant, user=request.user).order_by("-started_at", "-id")


class SessionDetailPage(CapabilityRequiredMixin, View):
    required_capability = "policies.view_activity"

    def get(self, request, public_id: str):
        session = session_get(tenant=request.tenant, user=request.user, public_id=public_id)
        decisions = session.decisions.order_by("created_at", "id")[:500]
        return render(request, "policies/session.html", {"s": session, "decisions": decisions})


class SandboxView(CapabilityRequiredMixin, View):
    """Shipped scenarios, dry-run against a chosen rollout: what each agent tried and what CAVRA answered."""

    required_capability = "policies.view"

    def get(self, request):
        from policies.sandbox import sandbox_results

        options, chosen, results = sandbox_results(
            tenant=request.tenant,
            user=request.user,
            rollout_id=(request.GET.get("rollout") or "").strip() or None,
        )
        context = {
            "options": options,
            "chosen": chosen,
            "results": results,
            "stopped": sum(1 for r in results if r["stopped"]),
        }
        return render(request, "policies/sandbox.html", context)
