"""Evidence pages: the explorer (htmx), record detail, verification, bundle download, retention."""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views import View
from django_tables2.paginators import LazyPaginator

from core.authz import CapabilityRequiredMixin, can
from core.table_views import TableListView
from evidence import selectors, services
from evidence.filtersets import EvidenceRecordFilterSet
from evidence.forms import BundleForm, RetentionForm, VerifyRangeForm
from evidence.models import DEFAULT_RETENTION_DAYS
from evidence.services import doctor
from evidence.tables import EvidenceRecordTable


class ExplorerView(TableListView):
    """Records with filters and a sortable table (pages counted lazily: a chain can be long); CSV of the
    filtered rows with `export=True`."""

    required_capability = "evidence.view"
    filterset_class, table_class = EvidenceRecordFilterSet, EvidenceRecordTable
    template, filter_form = "evidence/explorer.html", "evidence-filters"
    export_url_name, export_filename = "evidence:export", "evidence"
    paginator_class = LazyPaginator

    def get_queryset(self, request):
        return selectors.evidence_records(tenant=request.tenant, user=request.user)

    def extra_context(self, request, table) -> dict:
        return {
            "head": selectors.chain_head(request.tenant),
            "latest": selectors.verification_latest(tenant=request.tenant, user=request.user),
            "bundle_form": BundleForm(
                initial={k: request.GET.get(k, "") for k in ("session", "agent", "repository")}
            ),
        }


class RecordDetailView(CapabilityRequiredMixin, View):
    required_capability = "evidence.view"

    def get(self, request, public_id: str):
        record = selectors.evidence_record_get(tenant=request.tenant, user=request.user, public_id=public_id)
        context = {
            "record": record,
            "payload_json": json.dumps(record.payload, indent=2, sort_keys=True, ensure_ascii=False),
            **selectors.evidence_record_context(record),
        }
        return render(request, "evidence/record.html", context)


class VerificationView(CapabilityRequiredMixin, View):
    required_capability = "evidence.view"

    def get(self, request):
        return self._render(request, VerifyRangeForm())

    def post(self, request):
        form = VerifyRangeForm(request.POST)
        if not form.is_valid():
            return self._render(request, form, status=422)
        run = services.chain_verify(
            tenant=request.tenant, requested_by=request.user,
            first_seq=form.cleaned_data.get("first_seq"), last_seq=form.cleaned_data.get("last_seq"),
        )  # fmt: skip
        if request.htmx:
            return self._render(request, VerifyRangeForm(), partial=True)
        (messages.success if run.ok else messages.error)(request, run.summary)
        return redirect("evidence:verification")

    def _render(self, request, form, status=200, partial=False):
        context = {
            "form": form,
            "latest": selectors.verification_latest(tenant=request.tenant, user=request.user),
            "history": selectors.verification_history(tenant=request.tenant, user=request.user),
            "head": selectors.chain_head(request.tenant),
            "checkpoints": list(selectors.checkpoints_list(tenant=request.tenant, user=request.user)[:5]),
        }
        template = (
            "evidence/verification.html#verification-result" if partial else "evidence/verification.html"
        )
        return render(request, template, context, status=status)


class BundleDownloadView(CapabilityRequiredMixin, View):
    required_capability = "evidence.view"

    def post(self, request):
        form = BundleForm(request.POST)
        if form.is_valid():
            try:
                export = services.bundle_export(
                    tenant=request.tenant, actor=request.user, **form.cleaned_data
                )
            except services.EvidenceError as exc:
                form.add_error(None, str(exc))
            else:
                response = HttpResponse(export.data, content_type="application/zip")
                response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
                return response
        return render(request, "evidence/bundle_error.html", {"form": form}, status=422)


class TrustRootDownloadView(CapabilityRequiredMixin, View):
    required_capability = "evidence.view"

    def get(self, request):
        document = services.trust_root_export(request.tenant)
        response = HttpResponse(json.dumps(document, indent=2), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="trust-root-{document["tenant"]}.json"'
        return response


class DoctorView(CapabilityRequiredMixin, View):
    """What `manage.py cavra_doctor` checks, for this tenant: platform, keys, heads, verification, witnesses."""

    required_capability = "evidence.readiness"

    def get(self, request):
        checks = doctor.doctor_run(tenant=request.tenant)
        failed = sum(c.status == "FAIL" for c in checks)
        return render(request, "evidence/doctor.html", {"checks": checks, "failed": failed,
                                                        "warnings": sum(c.status == "WARN" for c in checks)})  # fmt: skip


class RetentionView(CapabilityRequiredMixin, View):
    required_capability = "evidence.view"

    def get(self, request):
        policy = selectors.retention_policy(request.tenant)
        initial = {"retention_days": policy.retention_days if policy else DEFAULT_RETENTION_DAYS,
                   "legal_hold": bool(policy and policy.legal_hold), "legal_hold_reason": policy.legal_hold_reason if policy else ""}  # fmt: skip
        return self._render(request, RetentionForm(initial=initial), policy)

    def post(self, request):
        if not can(request.user, request.tenant, "evidence.manage_retention"):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied("Only tenant admins and compliance officers may change retention.")
        form = RetentionForm(request.POST)
        if not form.is_valid():
            return self._render(request, form, selectors.retention_policy(request.tenant), status=422)
        services.retention_policy_update(tenant=request.tenant, actor=request.user, **form.cleaned_data)
        messages.success(request, "Retention settings saved.")
        return redirect("evidence:retention")

    def _render(self, request, form, policy, status=200):
        can_edit = can(request.user, request.tenant, "evidence.manage_retention")
        return render(request, "evidence/retention.html", {"form": form, "policy": policy, "can_edit": can_edit,
                                                           "head": selectors.chain_head(request.tenant)}, status=status)  # fmt: skip
