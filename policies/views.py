"""Pages: policy packs and rollouts (operators), and the activity explorer (sessions and decisions)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views import View

from cavra_engine.policy import list_bundled_packs
from evidence.models import Decision
from policies.forms import BundledInstallForm, DecisionFilterForm, PackUploadForm, RolloutForm
from policies.selectors import (
    ACTIVITY_ROLES,
    POLICY_READ_ROLES,
    POLICY_WRITE_ROLES,
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
from policies.services import policy_pack_install_bundled, policy_pack_upload, rollout_remove, rollout_set
from tenants.forms import apply_service_errors
from tenants.permissions import TenantRoleRequiredMixin, has_role

PAGE_SIZE = 50


class PoliciesView(TenantRoleRequiredMixin, View):
    required_roles = POLICY_READ_ROLES

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
            "can_write": has_role(request.user, tenant, *POLICY_WRITE_ROLES),
        }
        return render(request, "policies/policies.html", context, status=status)


class PackUploadView(PoliciesView):
    required_roles = POLICY_WRITE_ROLES
    http_method_names = ["post"]

    def post(self, request):
        form = PackUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                version = policy_pack_upload(
                    tenant=request.tenant, text=form.cleaned_data["source"], actor=request.user
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(
                    request, f"Stored {version.pack.pack_id} {version.version} ({version.digest[:12]})."
                )
                return redirect("policies:version", public_id=version.public_id)
        return self._render(request, upload=form, status=422)


class BundledInstallView(PoliciesView):
    required_roles = POLICY_WRITE_ROLES
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
    required_roles = POLICY_WRITE_ROLES
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
                try:
                    rollout_set(
                        tenant=request.tenant,
                        version=version,
                        mode=form.cleaned_data["mode"],
                        actor=request.user,
                        repository=form.cleaned_data["repository"] or None,
                        environment=form.cleaned_data["environment"] or None,
                    )
                except ValidationError as exc:
                    apply_service_errors(form, exc)
                else:
                    messages.success(request, "Rollout saved.")
                    return redirect("policies:index")
        return self._render(request, rollout=form, status=422)


class RolloutRemoveView(TenantRoleRequiredMixin, View):
    required_roles = POLICY_WRITE_ROLES
    http_method_names = ["post"]

    def post(self, request, public_id: str):
        rollout = rollout_get(tenant=request.tenant, user=request.user, public_id=public_id)
        rollout_remove(rollout=rollout, actor=request.user)
        messages.success(request, f"Rollout for {rollout.scope_label} removed.")
        return redirect("policies:index")


class VersionDetailView(TenantRoleRequiredMixin, View):
    required_roles = POLICY_READ_ROLES

    def get(self, request, public_id: str):
        version = policy_version_get(tenant=request.tenant, user=request.user, public_id=public_id)
        changes = policy_version_changes(version=version)
        return render(request, "policies/version.html", {"version": version, "changes": changes})


class ActivityView(TenantRoleRequiredMixin, View):
    """Decisions with filters; an htmx request gets only the results region."""

    required_roles = ACTIVITY_ROLES

    def get(self, request):
        form = DecisionFilterForm(request.GET or None)
        filters = {}
        if form.is_bound and form.is_valid():
            filters = {k: v for k, v in form.cleaned_data.items() if v and k not in ("since", "until")}
            for key in ("since", "until"):
                if form.cleaned_data.get(key):
                    filters[key] = form.cleaned_data[key].isoformat()
        qs = decision_list(tenant=request.tenant, user=request.user, filters=filters).order_by(
            "-created_at", "-id"
        )
        page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
        query = request.GET.copy()
        query.pop("page", None)
        context = {"form": form, "page": page, "query": query.urlencode(), "counts": _counts(qs)}
        template = "policies/activity.html#results" if request.htmx else "policies/activity.html"
        return render(request, template, context)


def _counts(qs) -> dict:
    from django.db.models import Count

    rows = qs.order_by().values("decision").annotate(n=Count("id"))
    counts = {row["decision"]: row["n"] for row in rows}
    return {v: counts.get(v, 0) for v in Decision.Verdict.values}


class DecisionDetailPage(TenantRoleRequiredMixin, View):
    required_roles = ACTIVITY_ROLES

    def get(self, request, public_id: str):
        decision = decision_get(tenant=request.tenant, user=request.user, public_id=public_id)
        return render(request, "policies/decision.html", {"d": decision})


class SessionsView(TenantRoleRequiredMixin, View):
    required_roles = ACTIVITY_ROLES

    def get(self, request):
        qs = session_list(tenant=request.tenant, user=request.user, filters=request.GET).order_by(
            "-started_at", "-id"
        )
        page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
        return render(request, "policies/sessions.html", {"page": page})


class SessionDetailPage(TenantRoleRequiredMixin, View):
    required_roles = ACTIVITY_ROLES

    def get(self, request, public_id: str):
        session = session_get(tenant=request.tenant, user=request.user, public_id=public_id)
        decisions = session.decisions.order_by("created_at", "id")[:500]
        return render(request, "policies/session.html", {"s": session, "decisions": decisions})


class SandboxView(TenantRoleRequiredMixin, View):
    """Shipped scenarios, dry-run against a chosen rollout: what each agent tried and what CAVRA answered."""

    required_roles = POLICY_READ_ROLES

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
