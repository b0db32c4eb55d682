"""Connectors API: CRUD, POST …/test, the connector's outbox (status, dead letters), retry."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from connectors import selectors
from connectors.api.serializers import (
    ConnectorSerializer,
    ConnectorUpdateSerializer,
    OutboxFilterSerializer,
    OutboxMessageSerializer,
)
from connectors.filtersets import ConnectorFilterSet
from connectors.models import Connector
from connectors.selectors import MANAGE, VIEW
from connectors.services import (
    connector_create,
    connector_delete,
    connector_message_retry,
    connector_test_send,
    connector_update,
)
from core.api.pagination import StableCursorPagination
from core.api.problems import ERRORS, as_drf_validation_error
from core.authz import HasCapability
from core.models import OutboxAttempt, OutboxMessage


def _write(serializer_class, request) -> tuple[dict, str | None]:
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
    values = dict(data.validated_data)
    return values, values.pop("secret", None)


class ManageView:
    permission_classes = [HasCapability]
    required_capability = MANAGE
    read_capability = VIEW


class ConnectorListView(ManageView, generics.ListAPIView):
    serializer_class = ConnectorSerializer
    pagination_class = StableCursorPagination
    filterset_class = ConnectorFilterSet  # the connectors page's too

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Connector.objects.none()
        return selectors.connector_list(tenant=self.request.tenant, user=self.request.user)

    @extend_schema(
        summary="Connectors of the tenant", responses={200: ConnectorSerializer(many=True), **ERRORS}
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Create a connector (tenant_admin); the secret is stored encrypted and never returned",
        request=ConnectorSerializer,
        responses={201: ConnectorSerializer, **ERRORS},
    )
    def post(self, request):
        values, secret = _write(ConnectorSerializer, request)
        try:
            connector = connector_create(
                tenant=request.tenant, actor=request.user, values=values, secret=secret
            )
        except DjangoValidationError as exc:
            raise as_drf_validation_error(exc)
        return Response(ConnectorSerializer(connector).data, status=status.HTTP_201_CREATED)


class ConnectorDetailView(ManageView, APIView):
    def _get(self, request, connector_id):
        return selectors.connector_get(tenant=request.tenant, user=request.user, public_id=connector_id)

    @extend_schema(summary="One connector", responses={200: ConnectorSerializer, **ERRORS})
    def get(self, request, connector_id: str):
        return Response(ConnectorSerializer(self._get(request, connector_id)).data)

    @extend_schema(
        summary="Change a connector (an omitted or empty secret keeps the stored one)",
        request=ConnectorUpdateSerializer,
        responses={200: ConnectorSerializer, **ERRORS},
    )
    def patch(self, request, connector_id: str):
        connector = self._get(request, connector_id)
        values, secret = _write(ConnectorUpdateSerializer, request)
        try:
            connector = connector_update(
                connector=connector, actor=request.user, values=values, secret=secret
            )
        except DjangoValidationError as exc:
            raise as_drf_validation_error(exc)
        return Response(ConnectorSerializer(connector).data)

    @extend_schema(
        summary="Delete a connector (its pending messages become dead letters)",
        responses={204: None, **ERRORS},
    )
    def delete(self, request, connector_id: str):
        connector_delete(connector=self._get(request, connector_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConnectorTestView(ManageView, APIView):
    @extend_schema(
        summary="Send a test event through the outbox (202; the message shows the outcome)",
        request=None,
        responses={202: OutboxMessageSerializer, **ERRORS},
    )
    def post(self, request, connector_id: str):
        connector = selectors.connector_get(tenant=request.tenant, user=request.user, public_id=connector_id)
        message = connector_test_send(connector=connector, actor=request.user)
        message.refresh_from_db()
        return Response(OutboxMessageSerializer(message).data, status=status.HTTP_202_ACCEPTED)


class OutboxPagination(StableCursorPagination):
    ordering = "-id"


class ConnectorOutboxView(ManageView, generics.ListAPIView):
    serializer_class = OutboxMessageSerializer
    pagination_class = OutboxPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return OutboxMessage.objects.none()
        params = OutboxFilterSerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        connector = selectors.connector_get(
            tenant=self.request.tenant, user=self.request.user, public_id=self.kwargs["connector_id"]
        )
        return selectors.connector_messages(
            connector=connector, status=params.validated_data.get("status")
        ).prefetch_related(Prefetch("attempt_log", queryset=OutboxAttempt.objects.order_by("number")))

    @extend_schema(
        summary="The connector's outbox: messages with status (pending, sent, failed = dead letter) and attempts",
        parameters=[OutboxFilterSerializer],
        responses={200: OutboxMessageSerializer(many=True), **ERRORS},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class ConnectorMessageRetryView(ManageView, APIView):
    @extend_schema(
        summary="Retry a dead letter (or a waiting message) now, with a fresh retry budget",
        request=None,
        responses={202: OutboxMessageSerializer, **ERRORS},
    )
    def post(self, request, connector_id: str, message_id: int):
        connector = selectors.connector_get(tenant=request.tenant, user=request.user, public_id=connector_id)
        message = selectors.connector_message_get(connector=connector, message_id=message_id)
        try:
            message = connector_message_retry(connector=connector, message=message, actor=request.user)
        except DjangoValidationError as exc:
            raise as_drf_validation_error(exc)
        message.refresh_from_db()
        return Response(OutboxMessageSerializer(message).data, status=status.HTTP_202_ACCEPTED)
