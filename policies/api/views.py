"""The agents' decision API (POST /api/v1/decisions), decision and session reads, and health."""

from __future__ import annotations

import logging
import time

import orjson
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.exceptions import fail_closed_body, fail_closed_headers
from core.api.problems import PROBLEM_CONTENT_TYPE, problem_body
from core.metrics import decision_observed
from evidence.models import AgentSession, Decision
from evidence.services.common import evidence_reference
from policies.api.decision_request import decision_request_fast
from policies.api.serializers import (
    DecisionOutcomeRequestSerializer,
    DecisionOutcomeSerializer,
    DecisionRequestSerializer,
    DecisionResponseSerializer,
    DecisionSerializer,
    HealthSerializer,
    OfflineSyncRequestSerializer,
    OfflineSyncResponseSerializer,
    PolicyBundleEnvelopeSerializer,
    SessionCreateSerializer,
    SessionSerializer,
)
from policies.bundles import policy_bundle_issue
from policies.decisions import (
    DecisionInputError,
    DecisionUnavailable,
    IdempotencyRejected,
    decision_answer,
    session_open,
)
from policies.filtersets import DecisionFilterSet, SessionFilterSet
from policies.offline import offline_decisions_sync
from policies.outcomes import decision_outcome_record
from policies.selectors import (
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
_UTF8_JSON = ("application/json", "application/json;charset=utf-8")


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
    response = Response(fail_closed_body(reason, agent=True), status=503, headers=fail_closed_headers())
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def _decision_json(body: dict, *, replayed: bool) -> HttpResponse:
    """The answer rendered by orjson (the same JSON DRF's renderer wrote, a fraction of the cost)."""
    response = HttpResponse(orjson.dumps(body), content_type="application/json")
    if replayed:
        response["Idempotent-Replayed"] = "true"
    response.cavra_decision = body["decision"]
    return response


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

    filterset_class = DecisionFilterSet
    queryset = Decision.objects.none()  # the model, for the schema; get_queryset scopes the rows

    def dispatch(self, request, *args, **kwargs):
        """Time every decision answer (authentication included) for the latency histogram by outcome."""
        started = time.perf_counter()
        response = super().dispatch(request, *args, **kwargs)
        if request.method == "POST" and response.status_code in (200, 503):
            outcome = (
                getattr(response, "cavra_decision", None) if response.status_code == 200 else "unavailable"
            )
            decision_observed(outcome, time.perf_counter() - started)
        return response

    def get_queryset(self):
        return decision_list(tenant=self.request._request.tenant, user=self.request.user)

    @extend_schema(
        summary="Decisions (filters: agent, repository, environment, decision, severity, rule_id, action, session, since, until)",
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
        validated = None
        if request.content_type.replace(" ", "").lower() in _UTF8_JSON:
            validated = decision_request_fast(request.body)
        if validated is None:  # anything the fast schema does not take: the serializer, and its 400s
            serializer = DecisionRequestSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            validated = serializer.validated_data
        agent = request.user.agent
        try:
            answer = decision_answer(
                tenant=request._request.tenant,
                agent=agent,
                request=validated,
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
        return _decision_json(answer.body, replayed=answer.replayed)


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

    filterset_class = SessionFilterSet
    queryset = AgentSession.objects.none()  # the model, for the schema; get_queryset scopes the rows

    def get_queryset(self):
        return session_list(tenant=self.request._request.tenant, user=self.request.user).order_by("-id")

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


class PolicyBundleView(APIView):
    """A signed offline bundle for the calling agent: what `cavra bundle pull` fetches."""

    authentication_classes = READ_AUTH  # so a person is told 403 "agents only", not 401
    permission_classes = [IsAgent]

    @extend_schema(
        summary="Signed offline policy bundle for this agent (scope: a rollout id or `current`)",
        parameters=[
            OpenApiParameter(
                "repository", str, required=False, description="with `current`: selects the rollout"
            ),
            OpenApiParameter(
                "environment", str, required=False, description="with `current`: selects the rollout"
            ),
            OpenApiParameter(
                "ttl", int, required=False, description="validity in seconds (60-604800, default 86400)"
            ),
        ],
        responses={
            200: PolicyBundleEnvelopeSerializer,
            400: OpenApiResponse(description="Invalid ttl (problem details naming the field)"),
            401: OpenApiResponse(description="Missing, unknown, revoked or expired agent token"),
            404: OpenApiResponse(description="No rollout for this scope in the agent's tenant"),
        },
    )
    def get(self, request, scope: str):
        envelope = policy_bundle_issue(
            tenant=request._request.tenant,
            agent=request.user.agent,
            scope=scope,
            repository=request.query_params.get("repository") or None,
            environment=request.query_params.get("environment") or None,
            ttl=request.query_params.get("ttl"),
        )
        return Response(envelope)


class OfflineDecisionSyncView(APIView):
    """`cavra sync`: the agent's offline spool into the tenant's evidence, each entry once."""

    authentication_classes = READ_AUTH
    permission_classes = [IsAgent]

    @extend_schema(
        summary="Upload offline decisions from the agent's spool (idempotent per entry)",
        request=OfflineSyncRequestSerializer,
        responses={
            200: OfflineSyncResponseSerializer,
            400: OpenApiResponse(
                description="An entry is malformed, altered or another agent's (nothing recorded)"
            ),
            401: OpenApiResponse(description="Missing, unknown, revoked or expired agent token"),
        },
    )
    def post(self, request):
        serializer = OfflineSyncRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        synced = offline_decisions_sync(
            tenant=request._request.tenant,
            agent=request.user.agent,
            entries=serializer.validated_data["entries"],
        )
        body = {
            "accepted": sum(1 for s in synced if not s.duplicate),
            "duplicates": sum(1 for s in synced if s.duplicate),
            "entries": [s.__dict__ for s in synced],
        }
        return Response(OfflineSyncResponseSerializer(body).data)


class DecisionOutcomeView(APIView):
    """Claude Code's PostToolUse: the outcome of an allowed action, recorded once against its decision."""

    authentication_classes = READ_AUTH
    permission_classes = [IsAgent]

    @extend_schema(
        summary="Record what happened after an allowed action ran (once per decision)",
        request=DecisionOutcomeRequestSerializer,
        responses={
            200: DecisionOutcomeSerializer,
            400: OpenApiResponse(description="Invalid input (problem details naming the field)"),
            404: OpenApiResponse(description="No decision with this id belongs to this agent"),
        },
    )
    def post(self, request, decision_id: str):
        serializer = DecisionOutcomeRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        record, created = decision_outcome_record(
            tenant=request._request.tenant,
            agent=request.user.agent,
            decision_id=decision_id,
            **serializer.validated_data,
        )
        body = {
            "decision_id": decision_id,
            "outcome": record.payload["outcome"],
            "evidence": evidence_reference(record),
            "recorded_before": not created,
        }
        return Response(DecisionOutcomeSerializer(body).data)
