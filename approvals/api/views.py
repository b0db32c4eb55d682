"""Approval API: the caller's queue, status with long-poll (agents and reviewers), approve, deny, break-glass."""

from __future__ import annotations

import time

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from approvals.api.serializers import (
    ApprovalQueueSerializer,
    ApprovalSerializer,
    BreakGlassInputSerializer,
    ReviewInputSerializer,
)
from approvals.models import ApprovalRequest
from approvals.selectors import (
    approval_get,
    approval_get_for_agent,
    approval_queue,
    can_read_approvals,
)
from approvals.services import (
    ApprovalStateError,
    approval_request_break_glass,
    approval_request_expire,
    approval_request_review,
)
from core.api.problems import PROBLEM
from core.authz import HasCapability, get_for_tenant_or_404
from registry.authentication import AgentTokenAuthentication
from tenants.authentication import PersonalTokenAuthentication

MAX_WAIT_SECONDS = 30
POLL_INTERVAL = 0.2


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request is not in a state that allows this."
    default_code = "conflict"


def _is_agent(request) -> bool:
    return bool(getattr(request.user, "is_agent", False))


def _service_errors(call):
    """Run a service; its refusals become problem details (409 stale, 403 not allowed, 400 by field)."""
    try:
        return call()
    except ApprovalStateError as exc:
        raise Conflict(exc.message)
    except ValidationError as exc:
        raise exceptions.ValidationError(
            getattr(exc, "message_dict", None) or {"non_field_errors": exc.messages}
        )
    except DjangoPermissionDenied as exc:
        raise exceptions.PermissionDenied(str(exc))


class HumanOnly(IsAuthenticated):
    message = "This endpoint is for people signed in to the portal, not agent tokens."

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and not _is_agent(request)


class ApprovalQueueView(APIView):
    permission_classes = [HumanOnly, HasCapability]
    required_capability = "approvals.review_queue"

    @extend_schema(
        operation_id="approvals_queue",
        summary="My approval queue: pending requests I may decide, most severe and newest first",
        responses={200: ApprovalQueueSerializer, 403: PROBLEM},
        tags=["approvals"],
    )
    def get(self, request):
        items = approval_queue(tenant=request.tenant, user=request.user)
        data = {"next": None, "previous": None, "results": ApprovalSerializer(items, many=True).data}
        return Response(data)


class ApprovalDetailView(APIView):
    """Agents (Bearer cvr_…) read their own requests; reviewers, admins, auditors (session or a personal
    token, Bearer cvp_…) read any in the tenant."""

    # Personal tokens first: that class claims only `cvp_` bearers, while the agent one refuses any other.
    authentication_classes = [PersonalTokenAuthentication, AgentTokenAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]

    def _load(self, request, public_id: str) -> ApprovalRequest:
        if _is_agent(request):
            return approval_get_for_agent(tenant=request.tenant, agent=request.agent, public_id=public_id)
        if getattr(request, "tenant", None) is None:
            raise Http404("No tenant selected.")
        if not can_read_approvals(request.user, request.tenant):
            raise exceptions.PermissionDenied("Your role in this tenant does not allow reading approvals.")
        return approval_get(tenant=request.tenant, user=request.user, public_id=public_id)

    @extend_schema(
        operation_id="approvals_status",
        summary="Status of one approval request; `?wait=N` long-polls up to N (max 30) seconds for a change",
        parameters=[
            OpenApiParameter(
                "wait",
                OpenApiTypes.INT,
                description="Seconds to wait for the state to change (0-30). Returns at once when it does.",
            )
        ],
        responses={200: ApprovalSerializer, 400: PROBLEM, 401: PROBLEM, 404: PROBLEM},
        tags=["approvals"],
    )
    def get(self, request, public_id: str):
        raw = request.query_params.get("wait", "0") or "0"
        try:
            wait = int(raw)
        except ValueError:
            wait = -1
        if not 0 <= wait <= MAX_WAIT_SECONDS:
            raise exceptions.ValidationError({"wait": [f"Give whole seconds from 0 to {MAX_WAIT_SECONDS}."]})
        approval = self._load(request, public_id)
        if wait:
            approval = self._wait_for_change(approval, wait)
        return Response(ApprovalSerializer(approval).data)

    @staticmethod
    def _wait_for_change(approval: ApprovalRequest, wait: int) -> ApprovalRequest:
        # A short poll of one indexed row, in autocommit: no transaction or lock is held while waiting.
        seen = (approval.effective_status, approval.updated_at)
        if approval.effective_status not in ("pending", "approved", "break_glass"):
            return approval
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            row = (
                ApprovalRequest.objects.filter(pk=approval.pk)
                .values("status", "updated_at", "expires_at")
                .first()
            )
            if row is None:
                break
            if row["status"] == "pending" and approval.is_overdue:
                approval_request_expire(approval_id=approval.pk)
                break
            if (row["status"], row["updated_at"]) != seen:
                break
            time.sleep(POLL_INTERVAL)
        return ApprovalRequest.objects.select_related("agent", "decided_by", "decision").get(pk=approval.pk)


class _ReviewView(APIView):
    permission_classes = [HumanOnly, HasCapability]
    required_capability = None  # any member may try; the service checks the routed role, grants and ownership
    verdict = ""

    def post(self, request, public_id: str):
        payload = ReviewInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        approval = get_for_tenant_or_404(ApprovalRequest.objects.all(), request.tenant, public_id=public_id)
        approval = _service_errors(
            lambda: approval_request_review(
                approval=approval,
                actor=request.user,
                verdict=self.verdict,
                reason=payload.validated_data.get("reason", ""),
            )
        )
        return Response(ApprovalSerializer(approval).data)


_review_schema = dict(
    request=ReviewInputSerializer,
    responses={200: ApprovalSerializer, 400: PROBLEM, 403: PROBLEM, 404: PROBLEM, 409: PROBLEM},
    tags=["approvals"],
)


class ApprovalApproveView(_ReviewView):
    verdict = "approve"

    @extend_schema(summary="Approve (counts toward the quorum); 409 when already decided", **_review_schema)
    def post(self, request, public_id: str):
        return super().post(request, public_id)


class ApprovalDenyView(_ReviewView):
    verdict = "deny"

    @extend_schema(summary="Deny; 409 when already decided", **_review_schema)
    def post(self, request, public_id: str):
        return super().post(request, public_id)


class BreakGlassView(APIView):
    permission_classes = [HumanOnly, HasCapability]
    required_capability = None  # tenant admins and break-glass grantees; the service checks

    @extend_schema(
        summary="Break glass: allow a pending or denied request now, with a mandatory justification",
        request=BreakGlassInputSerializer,
        responses={200: ApprovalSerializer, 400: PROBLEM, 403: PROBLEM, 404: PROBLEM, 409: PROBLEM},
        tags=["approvals"],
    )
    def post(self, request):
        payload = BreakGlassInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        approval = ApprovalRequest.objects.filter(
            tenant=request.tenant, public_id=payload.validated_data["approval_id"]
        ).first()
        if approval is None:
            raise exceptions.NotFound("No approval request matches approval_id.")
        approval = _service_errors(
            lambda: approval_request_break_glass(
                approval=approval, actor=request.user, justification=payload.validated_data["justification"]
            )
        )
        return Response(ApprovalSerializer(approval).data)
