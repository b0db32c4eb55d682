"""Reviewer pages: the live queue, approve/deny inline, detail with evidence trail, history, break-glass."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views import View

from approvals.filtersets import ApprovalHistoryFilterSet
from approvals.models import ApprovalRequest, BreakGlassReview
from approvals.selectors import (
    agent_recent_decisions,
    agent_recent_history,
    approval_action_details,
    approval_evidence_trail,
    approval_get,
    approval_history,
    approval_queue,
    approval_reviews,
    break_glass_reviews_open,
    queue_version,
)
from approvals.services import (
    ApprovalStateError,
    approval_request_break_glass,
    approval_request_review,
    break_glass_review_close,
    may_break_glass,
)
from approvals.tables import ApprovalHistoryTable
from core.authz import CapabilityRequiredMixin, get_for_tenant_or_404
from core.table_views import TableListView
from core.timezones import request_timezone

QUEUE_POLL_SECONDS = 1


def _render(request, template: str, context: dict, status: int = 200) -> HttpResponse:
    """Render with times in the reviewer's own time zone (the one their browser reports)."""
    with timezone.override(request_timezone(request)):
        return render(request, template, context, status=status)


def _errors(exc: ValidationError) -> dict[str, list[str]]:
    return getattr(exc, "message_dict", None) or {"__all__": exc.messages}


def _queue_context(request) -> dict:
    items = approval_queue(tenant=request.tenant, user=request.user)
    history = agent_recent_history(tenant=request.tenant, agents=[a.agent for a in items if a.agent_id])
    for a in items:
        a.agent_history = history.get(a.agent_id, {})
        a.details = approval_action_details(a) if a.agent_id else {}  # from the joined decision: no query
    return {"items": items, "version": queue_version(items), "poll_seconds": QUEUE_POLL_SECONDS}


class QueueView(CapabilityRequiredMixin, View):
    """GET: the whole page; an htmx poll gets the #queue fragment, or 204 when nothing changed."""

    required_capability = "approvals.review_queue"

    def get(self, request):
        context = _queue_context(request)
        if request.htmx:
            if request.GET.get("v") == context["version"]:
                return HttpResponse(status=204)
            return _render(request, "approvals/queue.html#queue", context)
        return _render(request, "approvals/queue.html", context)


class HistoryView(TableListView):
    """Every request the reader may see, filtered and sorted; CSV of the same rows with `export=True`."""

    required_capability = "approvals.view"
    filterset_class, table_class = ApprovalHistoryFilterSet, ApprovalHistoryTable
    template, filter_form = "approvals/history.html", "history-filters"
    export_url_name, export_filename = "approvals:history-export", "approvals"

    def get_queryset(self, request):
        return approval_history(tenant=request.tenant, user=request.user).select_related(
            "agent", "decided_by"
        )


class DetailView(CapabilityRequiredMixin, View):
    required_capability = "approvals.view"

    def get(self, request, public_id: str):
        approval = approval_get(tenant=request.tenant, user=request.user, public_id=public_id)
        return _render(request, "approvals/detail.html", _detail_context(request, approval))


def _detail_context(request, approval, **extra) -> dict:
    from approvals.services import reviewer_refusal

    refusal = reviewer_refusal(approval, request.user)
    reviews = approval_reviews(approval)
    decidable = approval.is_decidable
    return {
        "a": approval,
        "reviews": reviews,
        "approvals_so_far": sum(1 for r in reviews if r.verdict == "approve"),
        "trail": approval_evidence_trail(approval),
        "can_review": decidable
        and refusal is None
        and all(r.reviewer_id != request.user.pk for r in reviews),
        "refusal": refusal,
        "can_break_glass": may_break_glass(request.user, request.tenant)
        and approval.agent_id is not None
        and (decidable or approval.effective_status == "denied"),
        "history": agent_recent_history(
            tenant=request.tenant, agents=[approval.agent] if approval.agent_id else []
        ).get(approval.agent_id, {}),
        "recent_decisions": agent_recent_decisions(tenant=request.tenant, agent=approval.agent)
        if approval.agent_id
        else [],
        "details": approval_action_details(approval),
        **extra,
    }


def _recorded(approval: ApprovalRequest, verdict: str) -> str:
    state = approval.get_status_display().lower()
    if approval.status == ApprovalRequest.Status.PENDING:
        state = "still pending, waiting for more approvals"
    what = (
        f"{approval.agent.name}'s {approval.action.replace('_', ' ')}"
        if approval.agent_id
        else approval.target[:120]
    )
    return f"Your {verdict} of {what} was recorded ({state})."


class ReviewView(CapabilityRequiredMixin, View):
    """POST verdict=approve|deny, reason: the service decides who may, and refuses stale clicks."""

    required_capability = (
        None  # any member may try; approval_request_review checks the routed role and grants
    )

    def post(self, request, public_id: str):
        approval = get_for_tenant_or_404(
            ApprovalRequest.objects.select_related("agent", "decided_by"), request.tenant, public_id=public_id
        )
        verdict = request.POST.get("verdict", "")
        reason = request.POST.get("reason", "")
        error = None
        status = 200
        field_errors: dict[str, list[str]] = {}
        try:
            with timezone.override(
                request_timezone(request)
            ):  # a refusal states times in the reviewer's zone
                approval = approval_request_review(
                    approval=approval, actor=request.user, verdict=verdict, reason=reason
                )
        except ApprovalStateError as exc:
            error, status = exc.message, 409
            approval = ApprovalRequest.objects.select_related("agent", "decided_by").get(pk=approval.pk)
        except ValidationError as exc:
            field_errors = _errors(exc)
            error, status = " ".join(m for ms in field_errors.values() for m in ms), 400
        except PermissionDenied as exc:
            if not request.htmx:
                raise
            error, status = str(exc), 403
            messages.error(request, error)  # htmx does not swap a 403: the toast says why
        if request.htmx:
            # The row answers with the real status; htmx swaps 4xx form answers too (see the
            # htmx-config meta in base.html), and the row carries the error, announced by role=alert.
            approval.can_review = error is not None and status == 400
            approval.can_break_glass = may_break_glass(request.user, request.tenant)
            context = {
                "a": approval,
                "row_error": None if field_errors.get("reason") else error,
                "reason_error": " ".join(field_errors.get("reason", [])),
                "done": error is None,
                "reason": reason,
            }
            if error is None:
                messages.success(request, _recorded(approval, verdict))
            return _render(request, "approvals/queue.html#queue-item", context, status=status)
        if error:
            context = _detail_context(
                request,
                approval,
                error=None if field_errors.get("reason") else error,
                reason_error=" ".join(field_errors.get("reason", [])),
                reason=reason,
            )
            return _render(request, "approvals/detail.html", context, status=status)
        messages.success(request, _recorded(approval, verdict))
        return redirect("approvals:queue")


class BreakGlassView(CapabilityRequiredMixin, View):
    required_capability = None  # tenant admins and break-glass grantees; checked below and in the service

    def _approval(self, request, public_id):
        if not may_break_glass(request.user, request.tenant):
            raise PermissionDenied("Only tenant admins and members granted break-glass may break glass.")
        return get_for_tenant_or_404(
            ApprovalRequest.objects.select_related("agent", "decided_by"), request.tenant, public_id=public_id
        )

    def get(self, request, public_id: str):
        approval = self._approval(request, public_id)
        return _render(request, "approvals/break_glass.html", {"a": approval, "errors": {}})

    def post(self, request, public_id: str):
        approval = self._approval(request, public_id)
        justification = request.POST.get("justification", "")
        try:
            with timezone.override(request_timezone(request)):
                approval = approval_request_break_glass(
                    approval=approval, actor=request.user, justification=justification
                )
        except ValidationError as exc:
            errors = _errors(exc)
            context = {
                "a": approval,
                "errors": errors,
                "form_error": errors.get("__all__"),
                "justification": justification,
            }
            return _render(request, "approvals/break_glass.html", context, status=400)
        except ApprovalStateError as exc:
            context = {
                "a": approval,
                "errors": {},
                "form_error": [exc.message],
                "justification": justification,
            }
            return _render(request, "approvals/break_glass.html", context, status=409)
        messages.warning(
            request, f"Break-glass recorded for {approval.public_id}; a post-hoc review is now open."
        )
        return redirect("approvals:detail", public_id=approval.public_id)


class BreakGlassReviewsView(CapabilityRequiredMixin, View):
    required_capability = "approvals.review_break_glass"

    def get(self, request):
        reviews = break_glass_reviews_open(tenant=request.tenant, user=request.user)
        return _render(request, "approvals/break_glass_reviews.html", {"reviews": reviews})


class BreakGlassReviewCloseView(CapabilityRequiredMixin, View):
    required_capability = "approvals.review_break_glass"

    def post(self, request, review_id: int):
        review = get_for_tenant_or_404(
            BreakGlassReview.objects.select_related("request"), request.tenant, pk=review_id
        )
        try:
            break_glass_review_close(review=review, actor=request.user, notes=request.POST.get("notes", ""))
        except ValidationError as exc:
            messages.error(request, " ".join(m for ms in _errors(exc).values() for m in ms))
        except ApprovalStateError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Post-hoc review of {review.request.public_id} closed.")
        return redirect("approvals:break-glass-reviews")
