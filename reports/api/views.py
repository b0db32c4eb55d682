"""Reports API: schedules (CRUD, run, pause), the archive (list, detail, download), the recipient policy."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.pagination import StableCursorPagination
from core.api.problems import ERRORS
from core.authz import HasCapability
from reports import selectors
from reports.api.serializers import (
    RecipientPolicySerializer,
    ReportDetailSerializer,
    ReportSerializer,
    SchedulePauseSerializer,
    ScheduleSerializer,
)
from reports.capabilities import MANAGE_RECIPIENT_POLICY, MANAGE_SCHEDULES, VIEW_ARCHIVE
from reports.filtersets import ReportRunFilterSet, ScheduleFilterSet
from reports.models import ReportRun, ReportSchedule
from reports.services.runs import report_schedule_run
from reports.services.schedules import (
    recipient_policy_get,
    recipient_policy_update,
    report_schedule_create,
    report_schedule_delete,
    report_schedule_pause,
    report_schedule_update,
)
from reports.views import file_download


class ScheduleAPI:
    permission_classes = [HasCapability]
    read_capability = VIEW_ARCHIVE
    required_capability = MANAGE_SCHEDULES


def _schedule(request, schedule_id: str) -> ReportSchedule:
    return selectors.schedule_get(tenant=request.tenant, user=request.user, public_id=schedule_id)


class ScheduleListView(ScheduleAPI, generics.ListAPIView):
    serializer_class = ScheduleSerializer
    pagination_class = StableCursorPagination
    filterset_class = ScheduleFilterSet  # the schedules page's too

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ReportSchedule.objects.none()
        return selectors.schedules_list(tenant=self.request.tenant, user=self.request.user)

    @extend_schema(summary="Report schedules", responses={200: ScheduleSerializer(many=True), **ERRORS})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(summary="Add a report schedule (recipients checked against the recipient policy)",
                   request=ScheduleSerializer, responses={201: ScheduleSerializer, **ERRORS})  # fmt: skip
    def post(self, request):
        body = ScheduleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        schedule = report_schedule_create(tenant=request.tenant, data=body.validated_data, actor=request.user)
        return Response(ScheduleSerializer(schedule).data, status=status.HTTP_201_CREATED)


class ScheduleDetailView(ScheduleAPI, APIView):
    @extend_schema(summary="One report schedule", responses={200: ScheduleSerializer, **ERRORS})
    def get(self, request, schedule_id: str):
        return Response(ScheduleSerializer(_schedule(request, schedule_id)).data)

    @extend_schema(summary="Change a report schedule (the fields given)", request=ScheduleSerializer,
                   responses={200: ScheduleSerializer, **ERRORS})  # fmt: skip
    def patch(self, request, schedule_id: str):
        schedule = _schedule(request, schedule_id)
        body = ScheduleSerializer(schedule, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        schedule = report_schedule_update(schedule=schedule, data=body.validated_data, actor=request.user)
        return Response(ScheduleSerializer(schedule).data)

    @extend_schema(summary="Delete a report schedule (its reports stay in the archive)",
                   responses={204: None, **ERRORS})  # fmt: skip
    def delete(self, request, schedule_id: str):
        report_schedule_delete(schedule=_schedule(request, schedule_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ScheduleRunView(ScheduleAPI, APIView):
    @extend_schema(summary="Run a schedule now: generate the report and queue its e-mails", request=None,
                   responses={201: ReportSerializer, **ERRORS})  # fmt: skip
    def post(self, request, schedule_id: str):
        run = report_schedule_run(
            schedule=_schedule(request, schedule_id), trigger=ReportRun.Trigger.RUN_NOW, actor=request.user
        )
        return Response(ReportSerializer(run).data, status=status.HTTP_201_CREATED)


class SchedulePauseView(ScheduleAPI, APIView):
    @extend_schema(summary="Pause or resume a schedule", request=SchedulePauseSerializer,
                   responses={200: ScheduleSerializer, **ERRORS})  # fmt: skip
    def post(self, request, schedule_id: str):
        schedule = _schedule(request, schedule_id)
        body = SchedulePauseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        schedule = report_schedule_pause(
            schedule=schedule, paused=body.validated_data["paused"], actor=request.user
        )
        return Response(ScheduleSerializer(schedule).data)


class ArchiveAPI:
    permission_classes = [HasCapability]
    required_capability = VIEW_ARCHIVE


class ArchiveListView(ArchiveAPI, generics.ListAPIView):
    serializer_class = ReportSerializer
    pagination_class = StableCursorPagination
    filterset_class = ReportRunFilterSet  # the archive page's, with ISO 8601 times

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ReportRun.objects.none()
        return selectors.report_archive(tenant=self.request.tenant, user=self.request.user)

    @extend_schema(
        summary="Generated reports, newest first", responses={200: ReportSerializer(many=True), **ERRORS}
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class ArchiveDetailView(ArchiveAPI, APIView):
    @extend_schema(summary="One generated report: files, signed manifest, deliveries with their attempts",
                   responses={200: ReportDetailSerializer, **ERRORS})  # fmt: skip
    def get(self, request, report_id: str):
        run = selectors.report_get(tenant=request.tenant, user=request.user, public_id=report_id)
        return Response(ReportDetailSerializer(run).data)


class ArchiveFileView(ArchiveAPI, APIView):
    @extend_schema(summary="Download one file of a report (`X-Content-SHA256` carries its digest)",
                   responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, **ERRORS})  # fmt: skip
    def get(self, request, report_id: str, variant: str, file_format: str):
        run = selectors.report_get(tenant=request.tenant, user=request.user, public_id=report_id)
        return file_download(selectors.report_file_get(run=run, variant=variant, format=file_format))


class RecipientPolicyView(APIView):
    permission_classes = [HasCapability]
    read_capability = VIEW_ARCHIVE
    required_capability = MANAGE_RECIPIENT_POLICY

    @extend_schema(summary="The tenant's recipient policy (allowed external domains)",
                   responses={200: RecipientPolicySerializer, **ERRORS})  # fmt: skip
    def get(self, request):
        return Response(RecipientPolicySerializer(recipient_policy_get(request.tenant)).data)

    @extend_schema(summary="Replace the allowed external domains", request=RecipientPolicySerializer,
                   responses={200: RecipientPolicySerializer, **ERRORS})  # fmt: skip
    def put(self, request):
        body = RecipientPolicySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        policy = recipient_policy_update(
            tenant=request.tenant, allowed_domains=body.validated_data["allowed_domains"], actor=request.user
        )
        return Response(RecipientPolicySerializer(policy).data)
