"""Pages: posture overview, score breakdown, findings, control coverage, near-misses, timeline, readiness."""

from __future__ import annotations

import csv
import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Case, IntegerField, When
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.views import View
from kombu.exceptions import OperationalError as KombuOperationalError

from aispm import charts, selectors
from aispm.checks import CHECKS
from aispm.filtersets import FindingFilterSet
from aispm.forms import CheckSettingForm, DaysForm, FindingTransitionForm
from aispm.models import CheckSetting
from aispm.selectors import MANAGE_CHECKS, MANAGE_FINDINGS, VIEW, VIEW_DETAIL
from aispm.services.findings import (
    TRANSITIONS,
    check_setting_update,
    finding_risk_accept,
)
from aispm.services.readiness import readiness, readiness_packet_signed
from aispm.tables import FindingTable
from aispm.tasks import refresh_findings
from cavra_engine.surfaces import SURFACE_LABELS
from core.authz import CapabilityRequiredMixin, can
from core.db_routing import replica_reads
from core.table_views import TableListView
from tenants.forms import apply_service_errors

OUTCOMES = ("allow", "audit_only", "require_approval", "block")


def _days(request) -> int:
    form = DaysForm(request.GET or None)
    if form.is_bound and form.is_valid() and form.cleaned_data.get("days"):
        return form.cleaned_data["days"]
    return selectors.WINDOW_DAYS


def _bad_request(request, exc: ValidationError):
    return render(request, "aispm/error.html", {"message": "; ".join(exc.messages)}, status=400)


@method_decorator(replica_reads(), name="get")  # dashboard reads: the replica when fresh
class OverviewView(CapabilityRequiredMixin, View):
    """The executive's one screen: score and why, trend, decisions, risks, coverage, approvals."""

    required_capability = VIEW

    def get(self, request):
        tenant, days = request.tenant, _days(request)
        posture = selectors.posture(tenant=tenant, days=days)
        series = selectors.trend(
            tenant=tenant, days=days, live=posture.score if days == selectors.WINDOW_DAYS else None
        )
        blocked = selectors.top_blocked_rules(tenant=tenant, days=days)
        context = {
            "days": days,
            "posture": posture,
            "breakdown": posture.score.as_dict(),
            "series": series,
            "score_chart": charts.line_chart(
                [(str(p["day"]), p["score"]) for p in series], title=f"Posture score, last {days} days"
            ),
            "decisions_chart": charts.stacked_bars(
                series, OUTCOMES, title=f"Decisions by outcome per day, last {days} days"
            ),
            "blocked": blocked,
            "blocked_chart": charts.hbars(
                [(r["rule_id"], r["count"]) for r in blocked], title="Top blocked rules", width=480
            ),
            "sla": selectors.approval_sla(tenant=tenant, days=days),
            "sla_chart": charts.line_chart(
                [(str(p["day"]), p["approval_minutes"]) for p in series],
                title="Average minutes to an approval decision per day",
                ymax=max([p["approval_minutes"] or 0 for p in series] + [60]),
            ),
            "risks": selectors.top_risks(tenant=tenant),
            "coverage": selectors.coverage_summary(tenant=tenant, days=days),
            "detail": can(request.user, tenant, VIEW_DETAIL),
            "outcome_colours": charts.OUTCOME_COLOURS,
        }
        return render(request, "aispm/overview.html", context)


@method_decorator(replica_reads(), name="get")  # dashboard reads: the replica when fresh
class TrendCsvView(CapabilityRequiredMixin, View):
    required_capability = VIEW

    def get(self, request):
        series = selectors.trend(tenant=request.tenant, days=_days(request))
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="posture-trend.csv"'
        writer = csv.writer(response)
        columns = list(series[0].keys()) if series else ["day"]
        writer.writerow(columns)
        for row in series:
            writer.writerow([row[c] if row[c] is not None else "" for c in columns])
        return response


@method_decorator(replica_reads(), name="get")  # dashboard reads: the replica when fresh
class ScoreView(CapabilityRequiredMixin, View):
    """Why is it 62? Every deduction with its reason, for the tenant or one surface, repository or agent."""

    required_capability = VIEW

    def get(self, request):
        days = _days(request)
        scope = {k: (request.GET.get(k) or "").strip()[:300] for k in ("surface", "repository", "agent")}
        if scope["surface"] and scope["surface"] not in SURFACE_LABELS:
            return _bad_request(request, ValidationError({"surface": "Unknown surface."}))
        score = selectors.score_for(
            tenant=request.tenant, days=days, surface=scope["surface"], repository=scope["repository"],
            agent_ref=scope["agent"],
        )  # fmt: skip
        label = (
            SURFACE_LABELS.get(scope["surface"])
            or (scope["repository"] and f"repository {scope['repository']}")
            or (scope["agent"] and f"agent {scope['agent']}")
            or request.tenant.name
        )
        return render(request, "aispm/score.html", {"score": score, "breakdown": score.as_dict(), "label": label,
                                                    "days": days, "scope": scope})  # fmt: skip


class FindingsView(TableListView):
    """Findings filtered (the API's FilterSet) and sorted; the same rows as CSV with `export=True`."""

    required_capability = VIEW
    filterset_class, table_class = FindingFilterSet, FindingTable
    template, filter_form = "aispm/findings.html", "finding-filters"
    export_url_name, export_filename = "aispm:findings-csv", "findings"

    def get_queryset(self, request):
        return selectors.findings_list(tenant=request.tenant)

    def rows(self, queryset):
        ranks = [When(severity=name, then=rank) for name, rank in selectors.SEVERITY_RANK.items()]
        return queryset.annotate(severity_rank=Case(*ranks, default=0, output_field=IntegerField()))

    def extra_context(self, request, table) -> dict:
        return {"can_write": can(request.user, request.tenant, MANAGE_FINDINGS)}


class FindingsRefreshView(CapabilityRequiredMixin, View):
    required_capability = MANAGE_FINDINGS
    http_method_names = ["post"]

    def post(self, request):
        try:
            refresh_findings.delay(request.tenant.pk)
        except KombuOperationalError:
            messages.error(request, "The task queue is unreachable; the checks still run every 15 minutes.")
        else:
            messages.success(request, "The posture checks are running; findings update as they finish.")
        return redirect("aispm:findings")


class FindingDetailView(CapabilityRequiredMixin, View):
    required_capability = VIEW

    def get(self, request, public_id: str):
        return self._render(request, public_id)

    def _render(self, request, public_id: str, form=None, status=200):
        finding = selectors.finding_get(tenant=request.tenant, public_id=public_id)
        context = {
            "finding": finding,
            "history": selectors.finding_history(tenant=request.tenant, finding=finding),
            "check": CHECKS.get(finding.check_id),
            "form": form or FindingTransitionForm(),
            "can_write": can(request.user, request.tenant, MANAGE_FINDINGS),
            "can_see_evidence": can(request.user, request.tenant, VIEW_DETAIL),
        }
        return render(request, "aispm/finding.html", context, status=status)


class FindingTransitionView(FindingDetailView):
    required_capability = MANAGE_FINDINGS
    http_method_names = ["post"]

    def post(self, request, public_id: str):
        finding = selectors.finding_get(tenant=request.tenant, public_id=public_id)
        form = FindingTransitionForm(request.POST)
        if form.is_valid():
            action = form.cleaned_data["action"]
            try:
                if action == "risk_accept":
                    finding_risk_accept(
                        finding=finding, actor=request.user, reason=form.cleaned_data["reason"],
                        until=form.cleaned_data["until"],
                    )  # fmt: skip
                else:
                    TRANSITIONS[action](finding=finding, actor=request.user, note=form.cleaned_data["note"])
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(
                    request, f"Finding {action.replace('_', ' ')}d." if action != "reopen" else "Re-opened."
                )
                return redirect("aispm:finding", public_id=finding.public_id)
        return self._render(request, public_id, form=form, status=422)


@method_decorator(replica_reads(), name="get")  # dashboard reads: the replica when fresh
class CoverageView(CapabilityRequiredMixin, View):
    required_capability = VIEW

    def get(self, request):
        days = _days(request)
        return render(request, "aispm/coverage.html", {
            "days": days, "summary": selectors.coverage_summary(tenant=request.tenant, days=days),
        })  # fmt: skip


@method_decorator(replica_reads(), name="get")  # dashboard reads: the replica when fresh
class FrameworkView(CapabilityRequiredMixin, View):
    required_capability = VIEW

    def get(self, request, framework: str):
        fw = selectors.framework_or_404(framework)
        days = _days(request)
        rows = selectors.coverage(tenant=request.tenant, framework=fw, days=days)
        return render(request, "aispm/framework.html", {
            "framework": fw, "rows": rows, "days": days,
            "detail": can(request.user, request.tenant, VIEW_DETAIL),
        })  # fmt: skip


@method_decorator(replica_reads(), name="get")  # dashboard reads: the replica when fresh
class FrameworkCsvView(CapabilityRequiredMixin, View):
    required_capability = VIEW_DETAIL

    def get(self, request, framework: str):
        fw = selectors.framework_or_404(framework)
        rows = selectors.coverage(tenant=request.tenant, framework=fw, days=_days(request))
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="coverage-{fw.id}.csv"'
        writer = csv.writer(response)
        writer.writerow(
            ["control_id", "title", "status", "reason", "rules_in_force", "decisions", "evidence"]
        )
        for r in rows:
            writer.writerow([r["id"], r["title"], r["status"], r["reason"], " ".join(r["rules"]), r["decisions"],
                             r["evidence"]])  # fmt: skip
        return response


@method_decorator(replica_reads(), name="get")  # dashboard reads: the replica when fresh
class ControlView(CapabilityRequiredMixin, View):
    required_capability = VIEW_DETAIL

    def get(self, request, framework: str, control_id: str):
        fw = selectors.framework_or_404(framework)
        days = _days(request)
        decisions = selectors.control_decisions(
            tenant=request.tenant, framework=fw, control_id=control_id, days=days
        )
        row = next(
            r
            for r in selectors.coverage(tenant=request.tenant, framework=fw, days=days)
            if r["id"] == control_id
        )
        return render(request, "aispm/control.html", {"framework": fw, "row": row, "decisions": decisions,
                                                      "days": days})  # fmt: skip


@method_decorator(replica_reads(), name="get")  # dashboard reads: the replica when fresh
class NearMissesView(CapabilityRequiredMixin, View):
    required_capability = VIEW_DETAIL

    def get(self, request):
        days = _days(request)
        by = request.GET.get("by") or "rule_id"
        drill = {k: request.GET[k] for k in ("agent_ref", "rule_id", "repository") if k in request.GET}
        try:
            groups = selectors.near_misses(tenant=request.tenant, days=days, by=by)
            decisions = (
                selectors.near_miss_decisions(tenant=request.tenant, days=days, filters=drill)
                if drill
                else []
            )
        except ValidationError as exc:
            return _bad_request(request, exc)
        return render(request, "aispm/near_misses.html", {"groups": groups, "by": by, "days": days,
                                                          "drill": drill, "decisions": decisions})  # fmt: skip


@method_decorator(replica_reads(), name="get")  # dashboard reads: the replica when fresh
class TimelineView(CapabilityRequiredMixin, View):
    required_capability = VIEW_DETAIL

    def get(self, request):
        kind = (request.GET.get("kind") or "").strip()[:100]
        before = request.GET.get("before")
        try:
            before_seq = int(before) if before else None
            if before_seq is not None and not 0 < before_seq < 2**63:
                raise ValueError(before)
            events = selectors.timeline(tenant=request.tenant, kinds=kind, before_seq=before_seq)
        except ValueError:
            return _bad_request(request, ValidationError({"before": "Use a sequence number."}))
        except ValidationError as exc:
            return _bad_request(request, exc)
        return render(request, "aispm/timeline.html", {"events": events, "kind": kind,
                                                       "next_before": events[-1].seq if len(events) == 100 else None})  # fmt: skip


class ReadinessView(CapabilityRequiredMixin, View):
    required_capability = VIEW

    def get(self, request):
        response = render(request, "aispm/readiness.html", {"packet": readiness(tenant=request.tenant)})
        if request.GET.get("download") == "html":
            response["Content-Disposition"] = f'attachment; filename="readiness-{request.tenant.slug}.html"'
        return response


class ReadinessPacketView(CapabilityRequiredMixin, View):
    required_capability = VIEW

    def get(self, request):
        packet = readiness_packet_signed(tenant=request.tenant)
        response = HttpResponse(json.dumps(packet, indent=2), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="readiness-{request.tenant.slug}.json"'
        return response


class ChecksView(CapabilityRequiredMixin, View):
    required_capability = VIEW_DETAIL

    def get(self, request):
        return self._render(request)

    def _render(self, request, form=None, status=200):
        settings = {s.check_id: s for s in CheckSetting.objects.filter(tenant=request.tenant)}
        rows = [{"check": c, "setting": settings.get(c.id)} for c in CHECKS.values()]
        return render(request, "aispm/checks.html", {
            "rows": rows, "form": form, "can_manage": can(request.user, request.tenant, MANAGE_CHECKS),
        }, status=status)  # fmt: skip


class CheckSettingView(ChecksView):
    required_capability = MANAGE_CHECKS
    http_method_names = ["post"]

    def post(self, request):
        form = CheckSettingForm(request.POST)
        if form.is_valid():
            try:
                check_setting_update(
                    tenant=request.tenant, check_id=form.cleaned_data["check_id"],
                    enabled=form.cleaned_data["enabled"], threshold_days=form.cleaned_data["threshold_days"],
                    actor=request.user,
                )  # fmt: skip
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, f"Saved {form.cleaned_data['check_id']}.")
                return redirect("aispm:checks")
        return self._render(request, form=form, status=422)
