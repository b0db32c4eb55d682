"""API shapes for connectors. The secret is write-only: responses carry `has_secret`, never the value."""

from __future__ import annotations

from rest_framework import serializers

from cavra_engine.policy.vocabulary import SEVERITIES
from connectors.events import EVENT_TYPES
from connectors.models import Connector
from core.models import OutboxMessage


class ConnectorSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id", read_only=True)
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=Connector.Kind.choices)
    url = serializers.CharField(max_length=500, required=False, allow_blank=True)
    secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=2000,
        help_text="Token, key or password (Slack/Teams: the webhook URL). Stored encrypted, never returned.",
    )
    has_secret = serializers.SerializerMethodField()
    options = serializers.DictField(
        child=serializers.CharField(max_length=200, allow_blank=True), required=False
    )
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=list(EVENT_TYPES)), allow_empty=False
    )
    min_severity = serializers.ChoiceField(choices=list(SEVERITIES), required=False)
    redaction = serializers.ChoiceField(choices=Connector.Redaction.choices, required=False)
    batching = serializers.BooleanField(required=False)
    enabled = serializers.BooleanField(required=False)
    health = serializers.CharField(read_only=True)
    last_success_at = serializers.DateTimeField(read_only=True)
    last_error = serializers.CharField(read_only=True)
    last_error_at = serializers.DateTimeField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def get_has_secret(self, connector) -> bool:
        return bool(connector.secret_encrypted)


class ConnectorUpdateSerializer(ConnectorSerializer):
    """PATCH: every field optional; the kind cannot change."""

    name = serializers.CharField(max_length=100, required=False)
    kind = serializers.ChoiceField(choices=Connector.Kind.choices, read_only=True)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=list(EVENT_TYPES)), allow_empty=False, required=False
    )


class OutboxAttemptSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    ok = serializers.BooleanField()
    error = serializers.CharField()


class OutboxMessageSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    kind = serializers.CharField()
    idempotency_key = serializers.CharField()
    status = serializers.ChoiceField(choices=OutboxMessage.Status.choices)
    attempts = serializers.IntegerField()
    retries = serializers.IntegerField()
    last_error = serializers.CharField()
    next_attempt_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField(allow_null=True)
    event = serializers.JSONField(source="payload")
    attempt_log = OutboxAttemptSerializer(many=True)


class OutboxFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=OutboxMessage.Status.choices, required=False)
