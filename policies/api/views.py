"""The agents' decision API (POST /api/v1/decisions), decision and session reads, and health."""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.db import DatabaseError, connection
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.problems import PROBLEM_CONTENT_TYPE, problem_body
from policies.api.serializers import (
    DecisionRequestSerializer,
    DecisionResponseSerializer,
    DecisionSerializer,
    HealthSerializer,
    SessionCreateSerializer,
    SessionSerializer,
)
from policies.decisions import (
    DecisionInputError,
    DecisionUnavailable,
    IdempotencyRejected,
    decision_answer,
    session_open,
)
from policies.selectors import (
    DECISION_FILTERS,
    can_read_activity,
    decision_get,
    decision_list,
    session_get,
    session_list,
)
from registry.authentication import AgentTokenAuthentication
from tenants.authentication import PersonalTokenAuthentication

logger = logging.getLogger(__name__)
MAX_DECISION_BODY = 64 * 1024


class IsAgent(BasePermission):
    message = "This endpoint is for agents: authenticate with `Authorization: Bearer cvr_…`."

    def has_permission(self, request, view) -> bool:
        return getattr(request.user, "is_agent", False)


class CanReadActivity(BasePermission):
    message = "Your role in this tenant does not allow reading agent activity."

    def has_permission(self, request, view) -> bool:
        tenant = getattr(request._request, "tenant", None)
        return (
            tenant is not None and request.user.is_authenticated and can_read_activity(request.user, tenant)
        )


def _problem(status_code: int, detail: str, *, errors=None, code=None, extra=None) -> Response:
    body = problem_body(status_code, detail, errors=errors, code=code)
    if extra:
        body.update(extra)
    response = Response(body, status=status_code)
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def _blocked_unavailable(reason: str) -> Response:
    # 503 plus an explicit block, so a client that reads only `decision` still fails closed.
    return _problem(
        503,
        f"{reason} The portal cannot decide; treat this as block.",
        code="decision-unavailable",
        extra={"decision": "block", "reason": reason},
    )


AGENT_AUTH = [AgentTokenAuthentication]
# Humans read activity with a session or a personal token (cvp_); agents with their own token (cvr_).
READ_AUTH = [PersonalTokenAuthentication, AgentTokenAuthentication, SessionAuthentication]


class DecisionListCreateView(generics.ListAPIView):
    serializer_class = DecisionSerializer

    def get_authenticators(self):
        if self.request is not None and self.request.method == "POST":
            return [AgentTokenAuthentication()]
        return [a() for a in READ_AUTH]

    def get_permissions(self):
        if self.request.method == "POST":
            return [IsAgent()]
        return [CanReadActivity()]

    def get_queryset(self):
        return decision_list(
            tenant=self.request._request.tenant, user=self.request.user, filters=self.request.query_params
        )

    @extend_schema(
        summary="Decisions (filters: agent, repository, environment, decision, severity, rule_id, action, session, since, until)",
        parameters=[
            OpenApiParameter(name, str, required=False) for name in (*DECISION_FILTERS, "since", "until")
        ],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Ask before acting: allow, block or require_approval",
        request=DecisionRequestSerializer,
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)],
        responses={
            200: DecisionResponseSerializer,
            400: OpenApiResponse(description="Invalid input (problem details naming the field)"),
            401: OpenApiResponse(description="Missing, unknown, revoked or expired agent token"),
            413: OpenApiResponse(description="Body larger than 64 KiB"),
            503: OpenApiResponse(description="The portal cannot decide: treat as block"),
        },
    )
    def post(self, request, *args, **kwargs):
        length = request.META.get("CONTENT_LENGTH") or "0"
        if not length.isdigit() or int(length) > MAX_DECISION_BODY:
            return _problem(
                413,
                f"The request body is larger than {MAX_DECISION_BODY // 1024} KiB.",
                code="payload-too-large",
                errors={"body": ["Too large."]},
            )
        serializer = DecisionRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        agent = request.user.agent
        try:
            answer = decision_answer(
                tenant=request._request.tenant,
                agent=agent,
                request=serializer.validated_data,
                idempotency_key=request.headers.get("Idempotency-Key", ""),
            )
        except IdempotencyRejected as exc:
            return _problem(exc.status, exc.detail, errors={"Idempotency-Key": [exc.message]})
        except DecisionInputError as exc:
            return _problem(
                400, f"Invalid input: {exc.field}.", errors={exc.field: [str(exc)]}, code="validation-error"
            )
        except DecisionUnavailable as exc:
            logger.error("decision unavailable: %s", exc)
            return _blocked_unavailable(str(exc))
        except Exception:  # noqa: BLE001 - whatever broke, the answer is block, never a 500 page
            logger.exception("decision failed for agent %s", agent.public_id)
            return _blocked_unavailable("An internal error stopped the decision; nothing was recorded.")
        if answer.replayed:
            return Response(answer.body, headers={"Idempotent-Replayed": "true"})
        return Response(answer.body, status=status.HTTP_200_OK)


class DecisionDetailView(generics.RetrieveAPIView):
    serializer_class = DecisionSerializer
    authentication_classes = READ_AUTH
    permission_classes = [CanReadActivity]

    def get_object(self):
        return decision_get(
            tenant=self.request._request.tenant, user=self.request.user, public_id=self.kwargs["decision_id"]
        )

    @extend_schema(summary="One decision")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class SessionListCreateView(generics.ListAPIView):
    serializer_class = SessionSerializer
    authentication_classes = READ_AUTH

    def get_permissions(self):
        return [IsAgent()] if self.request.method == "POST" else [CanReadActivity()]

    def get_queryset(self):
        return session_list(
            tenant=self.request._request.tenant, user=self.request.user, filters=self.request.query_params
        ).order_by("-id")

    @extend_schema(summary="Agent sessions")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Open a session (agents)", request=SessionCreateSerializer, responses={201: SessionSerializer}
    )
    def post(self, request, *args, **kwargs):
        serializer = SessionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        agent = request.user.agent
        session = session_open(
            tenant=request._request.tenant,
            agent_ref=agent.public_id,
            agent_name=agent.name,
            **serializer.validated_data,
        )
        return Response(SessionSerializer(session).data, status=status.HTTP_201_CREATED)


class SessionDetailView(generics.RetrieveAPIView):
    serializer_class = SessionSerializer
    authentication_classes = READ_AUTH
    permission_classes = [CanReadActivity]

    def get_object(self):
        return session_get(
            tenant=self.request._request.tenant, user=self.request.user, public_id=self.kwargs["session_id"]
        )

    @extend_schema(summary="One session")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class HealthView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Liveness and dependencies", responses={200: HealthSerializer, 503: HealthSerializer}
    )
    def get(self, request):
        db_state = cache_state = "ok"
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except DatabaseError:
            db_state = "unreachable"
        try:
            cache.set("cavra:health", "1", 5)
        except Exception:  # noqa: BLE001
            cache_state = "unreachable"
        healthy = db_state == "ok"
        body = {
            "status": "ok" if healthy and cache_state == "ok" else "degraded",
            "database": db_state,
            "cache": cache_state,
            "time": timezone.now(),
        }
        return Response(HealthSerializer(body).data, status=200 if healthy else 503)
