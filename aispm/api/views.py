"""AISPM API: posture, findings (+ transitions), timeline, control coverage, near-misses, readiness."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from aispm import selectors
from aispm.api.serializers import (
    CoverageQuerySerializer,
    FindingSerializer,
    FindingTransitionSerializer,
    FrameworkCoverageSerializer,
    NearMissesSerializer,
    NearMissQuerySerializer,
    PostureQuerySerializer,
    PostureSerializer,
    ReadinessSerializer,
    TimelineQuerySerializer,
    TimelineSerializer,
)
from aispm.catalogue import frameworks
from aispm.filtersets import FindingFilterSet
from aispm.models import Finding
from aispm.selectors import MANAGE_FINDINGS, VIEW, VIEW_DETAIL
from aispm.services.findings import TRANSITIONS, finding_risk_accept
from aispm.services.readiness import readiness_packet_signed
from core.api.pagination import StableCursorPagination
from core.api.problems import ERRORS, PROBLEM, as_drf_validation_error
from core.authz import HasCapability


def _query(serializer_class, request) -> dict:
    params = serializer_class(data=request.query_params)
    params.is_valid(raise_exception=True)
    return params.validated_data


class SummaryView:
    permission_classes = [HasCapability]
    required_capability = VIEW


class DetailView:
    permission_classes = [HasCapability]
    required_capability = VIEW_DETAIL


class PostureView(SummaryView, APIView):
    @extend_schema(
        summary="Posture: headline and v1 score with components, per surface / repository / agent, daily trend",
        parameters=[PostureQuerySerializer],
        responses={200: PostureSerializer, **ERRORS},
    )
    def get(self, request):
        days = _query(PostureQuerySerializer, request)["days"]
        posture = selectors.posture(tenant=request.tenant, days=days)
        return Response(
            {
                "days": days,
                "score": posture.score.as_dict(),
                "outcomes": posture.outcomes,
                "by_surface": posture.by_surface,
                "by_repository": posture.by_repository,
                "by_agent": posture.by_agent,
                "trend": selectors.trend(
                    tenant=request.tenant,
                    days=days,
                    live=posture.score if days == selectors.WINDOW_DAYS else None,
                ),
            }
        )


class FindingPagination(StableCursorPagination):
    ordering = "-id"


class FindingListView(SummaryView, generics.ListAPIView):
    serializer_class = FindingSerializer
    pagination_class = FindingPagination

    filterset_class = FindingFilterSet  # the findings page's too

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no tenant
            return Finding.objects.none()
        return selectors.findings_list(tenant=self.request.tenant)

    @extend_schema(
        summary="Findings (filters: status incl. unresolved, severity, surface, check, agent, repository)",
        responses={200: FindingSerializer(many=True), **ERRORS},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class FindingDetailView(SummaryView, APIView):
    @extend_schema(summary="One finding", responses={200: FindingSerializer, **ERRORS})
    def get(self, request, finding_id: str):
        finding = selectors.finding_get(tenant=request.tenant, public_id=finding_id)
        return Response(FindingSerializer(finding).data)


class FindingTransitionView(APIView):
    permission_classes = [HasCapability]
    required_capability = MANAGE_FINDINGS

    @extend_schema(
        summary="Move a finding: acknowledge, resolve, reopen, or risk_accept (reason + until)",
        request=FindingTransitionSerializer,
        responses={200: FindingSerializer, 409: PROBLEM, **ERRORS},
    )
    def post(self, request, finding_id: str):
        finding = selectors.finding_get(tenant=request.tenant, public_id=finding_id)
        body = FindingTransitionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            if data["action"] == "risk_accept":
                finding = finding_risk_accept(
                    finding=finding, actor=request.user, reason=data["reason"], until=data["until"]
                )
            else:
                finding = TRANSITIONS[data["action"]](finding=finding, actor=request.user, note=data["note"])
        except DjangoValidationError as exc:
            raise as_drf_validation_error(exc)
        return Response(FindingSerializer(finding).data)


class TimelineView(DetailView, APIView):
    @extend_schema(
        summary="Governance events (publishes, rollouts, break-glass, findings, keys), newest first",
        parameters=[TimelineQuerySerializer],
        responses={200: TimelineSerializer, **ERRORS},
    )
    def get(self, request):
        q = _query(TimelineQuerySerializer, request)
        try:
            events = selectors.timeline(tenant=request.tenant, kinds=q["kind"], before_seq=q.get("before"))
        except DjangoValidationError as exc:
            raise as_drf_validation_error(exc)
        return Response(
            {
                "events": TimelineSerializer().fields["events"].to_representation(events),
                "next_before": events[-1].seq if len(events) == 100 else None,
            }
        )


class ControlCoverageView(SummaryView, APIView):
    @extend_schema(
        summary="Control coverage per framework: rules in force, decisions exercising each control, status",
        parameters=[CoverageQuerySerializer],
        responses={200: FrameworkCoverageSerializer(many=True), **ERRORS},
    )
    def get(self, request):
        q = _query(CoverageQuerySerializer, request)
        wanted = q.get("framework")
        known = frameworks()
        if wanted and wanted not in known:
            raise serializers.ValidationError(
                {"framework": f"Unknown framework; use one of {', '.join(known)}."}
            )
        result = []
        in_force = selectors.rules_in_force(tenant=request.tenant)
        counts = selectors.control_counts(tenant=request.tenant, days=q["days"], framework=wanted)
        for fw in known.values():
            if wanted and fw.id != wanted:
                continue
            rows = selectors.coverage(
                tenant=request.tenant, framework=fw, days=q["days"], in_force=in_force, counts=counts
            )
            by_status = {
                s: sum(1 for r in rows if r["status"] == s) for s in ("covered", "partial", "not_covered")
            }
            result.append({"id": fw.id, "title": fw.title, "total": len(rows), **by_status,
                           "percent": round(100 * by_status["covered"] / len(rows)) if rows else 0,
                           "controls": rows})  # fmt: skip
        return Response(result)


class NearMissesView(DetailView, APIView):
    @extend_schema(
        summary="Near-misses: high/critical actions blocked or held for approval, grouped",
        parameters=[NearMissQuerySerializer],
        responses={200: NearMissesSerializer, **ERRORS},
    )
    def get(self, request):
        q = _query(NearMissQuerySerializer, request)
        groups = selectors.near_misses(tenant=request.tenant, days=q["days"], by=q["by"])
        return Response({"by": q["by"], "days": q["days"], "groups": groups})


class ReadinessView(SummaryView, APIView):
    @extend_schema(
        summary="Readiness packet: ready_for_aispm_production and its blockers, signed with the tenant key",
        responses={200: ReadinessSerializer, **ERRORS},
    )
    def get(self, request):
        return Response(readiness_packet_signed(tenant=request.tenant))
