"""Pages: report archive, one report (files, manifest, deliveries), schedules (create, edit, run now,
preview, pause, history), recipient policy."""

from __future__ import annotations

import json

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.views import View

from core.authz import CapabilityRequiredMixin, can
from core.table_views import TableListView
from reports import render as report_render
from reports import selectors
from reports.capabilities import MANAGE_RECIPIENT_POLICY, MANAGE_SCHEDULES, VIEW_ARCHIVE
from reports.content import BUILDERS
from reports.filtersets import ReportRunPageFilterSet, ScheduleFilterSet
from reports.forms import RecipientPolicyForm, ScheduleForm
from reports.models import ReportRun
from reports.services.generate import SIGNED_JSON_TYPE
from reports.services.runs import report_schedule_run, schedule_scope
from reports.services.schedules import (
    recipient_policy_get,
    recipient_policy_update,
    report_schedule_create,
    report_schedule_pause,
    report_schedule_update,
)
from reports.tables import ReportRunTable, ScheduleTable
from tenants.forms import apply_service_errors


def file_download(f) -> HttpResponse:
    """One stored report file as an attachment, with its digest (the page and the API answer alike)."""
    response = HttpResponse(bytes(f.content), content_type=f.content_type)
    response["Content-Disposition"] = f'attachment; filename="{f.name}"'
    response["X-Content-SHA256"] = f.sha256
    return response


class ArchiveView(TableListView):
    """Generated reports, filtered (the API's FilterSet) and sorted; the same rows as CSV with `export=True`."""

    required_capability = VIEW_ARCHIVE
    filterset_class, table_class = ReportRunPageFilterSet, ReportRunTable
    template, filter_form = "reports/archive.html", "archive-filters"
    export_url_name, export_filename = "reports:archive-export", "reports"

    def get_queryset(self, request):
        return selectors.report_archive(tenant=request.tenant, user=request.user)


class ReportView(CapabilityRequiredMixin, View):
    required_capability = VIEW_ARCHIVE

    def get(self, request, report_id):
        run = selectors.report_get(tenant=request.tenant, user=request.user, public_id=report_id)
        manifest = json.dumps(run.manifest, indent=2, sort_keys=True)
        return render(request, "reports/report.html", {"run": run, "manifest": manifest})


class ReportManifestView(CapabilityRequiredMixin, View):
    required_capability = VIEW_ARCHIVE

    def get(self, request, report_id):
        run = selectors.report_get(tenant=request.tenant, user=request.user, public_id=report_id)
        response = HttpResponse(report_render.render_json(run.manifest), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="{run.public_id}.manifest.json"'
        return response


class ReportFileView(CapabilityRequiredMixin, View):
    required_capability = VIEW_ARCHIVE

    def get(self, request, report_id, variant, file_format):
        run = selectors.report_get(tenant=request.tenant, user=request.user, public_id=report_id)
        return file_download(selectors.report_file_get(run=run, variant=variant, format=file_format))


class SchedulesView(TableListView):
    """The schedules (a table with filters, CSV with `export=True`) and a form to add one (compliance
    officers and tenant admins)."""

    read_capability = VIEW_ARCHIVE
    required_capability = MANAGE_SCHEDULES
    filterset_class, table_class = ScheduleFilterSet, ScheduleTable
    template, filter_form = "reports/schedules.html", "schedule-filters"
    export_url_name, export_filename = "reports:schedules-export", "report-schedules"

    def get_queryset(self, request):
        return selectors.schedules_list(tenant=request.tenant, user=request.user)

    def extra_context(self, request, table) -> dict:
        return {
            "form": ScheduleForm(initial={"recipient_roles": ["compliance_officer"]}),
            "can_manage": can(request.user, request.tenant, MANAGE_SCHEDULES),
        }

    def post(self, request):
        form = ScheduleForm(request.POST)
        if form.is_valid():
            try:
                schedule = report_schedule_create(
                    tenant=request.tenant, data=form.service_data(), actor=request.user
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, f"Schedule “{schedule.name}” saved.")
                return redirect("reports:schedule", schedule_id=schedule.public_id)
        table, filterset, filter_errors = self.table(request)
        return self.respond(request, table, filterset.form, filter_errors, status=400, form=form)


class ScheduleView(CapabilityRequiredMixin, View):
    read_capability = VIEW_ARCHIVE
    required_capability = MANAGE_SCHEDULES

    def get(self, request, schedule_id):
        schedule = selectors.schedule_get(tenant=request.tenant, user=request.user, public_id=schedule_id)
        return self._page(request, schedule, ScheduleForm(initial=ScheduleForm.initial_from(schedule)))

    def post(self, request, schedule_id):
        schedule = selectors.schedule_get(tenant=request.tenant, user=request.user, public_id=schedule_id)
        form = ScheduleForm(request.POST)
        if form.is_valid():
            try:
                report_schedule_update(schedule=schedule, data=form.service_data(), actor=request.user)
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, "Schedule saved.")
                return redirect("reports:schedule", schedule_id=schedule.public_id)
        return self._page(request, schedule, form, status=400)

    def _page(self, request, schedule, form, status=200):
        context = {"schedule": schedule, "form": form, "runs": selectors.schedule_runs(schedule=schedule),
                   "can_manage": can(request.user, request.tenant, MANAGE_SCHEDULES)}  # fmt: skip
        template = "reports/schedule.html#history" if request.htmx else "reports/schedule.html"
        return render(request, template, context, status=status)


class ScheduleRunView(CapabilityRequiredMixin, View):
    required_capability = MANAGE_SCHEDULES

    def post(self, request, schedule_id):
        schedule = selectors.schedule_get(tenant=request.tenant, user=request.user, public_id=schedule_id)
        run = report_schedule_run(schedule=schedule, trigger=ReportRun.Trigger.RUN_NOW, actor=request.user)
        messages.success(request, f"Report {run.public_id} generated and handed to the outbox for delivery.")
        return redirect("reports:schedule", schedule_id=schedule.public_id)


class SchedulePauseView(CapabilityRequiredMixin, View):
    required_capability = MANAGE_SCHEDULES

    def post(self, request, schedule_id):
        schedule = selectors.schedule_get(tenant=request.tenant, user=request.user, public_id=schedule_id)
        paused = request.POST.get("paused") != "0"
        report_schedule_pause(schedule=schedule, paused=paused, actor=request.user)
        messages.success(request, "Schedule paused." if paused else "Schedule resumed.")
        return redirect("reports:schedule", schedule_id=schedule.public_id)


@method_decorator(csp_update({"style-src": [UNSAFE_INLINE]}), name="dispatch")
class SchedulePreviewView(CapabilityRequiredMixin, View):
    """The report as it would be sent now, in the browser: nothing stored, nothing sent."""

    required_capability = MANAGE_SCHEDULES

    def get(self, request, schedule_id):
        schedule = selectors.schedule_get(tenant=request.tenant, user=request.user, public_id=schedule_id)
        variant = "redacted" if request.GET.get("variant") == "redacted" else "full"
        content = BUILDERS[schedule.report_type](
            request.tenant, schedule_scope(schedule), variant == "redacted"
        )
        meta = {
            "tenant": request.tenant.slug,
            "tenant_name": request.tenant.name,
            "report": "preview",
            "title": schedule.get_report_title(),
            "variant": variant,
            "scope": schedule_scope(schedule).as_dict(),
        }
        if schedule.report_type in report_render.HTML_TEMPLATES:
            return HttpResponse(report_render.render_html(schedule.report_type, content, meta))
        body = {"type": SIGNED_JSON_TYPE.format(type=schedule.report_type), **meta, "columns": content.columns,
                "rows": content.rows[:200]}  # fmt: skip
        return HttpResponse(report_render.render_json(body), content_type="application/json")


class RecipientPolicyView(CapabilityRequiredMixin, View):
    read_capability = VIEW_ARCHIVE
    required_capability = MANAGE_RECIPIENT_POLICY

    def get(self, request):
        policy = recipient_policy_get(request.tenant)
        form = RecipientPolicyForm(initial={"allowed_domains": "\n".join(policy.allowed_domains)})
        return self._page(request, policy, form)

    def post(self, request):
        form = RecipientPolicyForm(request.POST)
        if form.is_valid():
            try:
                recipient_policy_update(
                    tenant=request.tenant, allowed_domains=form.domains(), actor=request.user
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, "Recipient policy saved.")
                return redirect("reports:recipient-policy")
        return self._page(request, recipient_policy_get(request.tenant), form, status=400)

    def _page(self, request, policy, form, status=200):
        can_manage = can(request.user, request.tenant, MANAGE_RECIPIENT_POLICY)
        return render(request, "reports/recipient_policy.html", {"policy": policy, "form": form,
                                                                 "can_manage": can_manage}, status=status)  # fmt: skip
