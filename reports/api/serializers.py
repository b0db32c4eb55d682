"""API shapes for report schedules, the archive and the recipient policy."""

from __future__ import annotations

from rest_framework import serializers

from core.roles import ALL_ROLES
from reports.catalogue import REPORT_TYPES
from reports.models import RecipientPolicy, ReportDelivery, ReportFile, ReportRun, ReportSchedule

FORMATS = ["html", "pdf", "json", "csv", "xlsx"]


class ScheduleSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    report_type = serializers.ChoiceField(choices=list(REPORT_TYPES))
    formats = serializers.ListField(child=serializers.ChoiceField(choices=FORMATS), required=False)
    repositories = serializers.ListField(child=serializers.CharField(max_length=300), required=False)
    frameworks = serializers.ListField(child=serializers.CharField(max_length=40), required=False)
    recipient_roles = serializers.ListField(
        child=serializers.ChoiceField(choices=list(ALL_ROLES)), required=False
    )
    recipient_emails = serializers.ListField(child=serializers.EmailField(), required=False)
    window_days = serializers.IntegerField(min_value=1, max_value=365, required=False)
    timezone = serializers.CharField(max_length=64, required=False)

    class Meta:
        model = ReportSchedule
        fields = ["id", "name", "report_type", "cron", "timezone", "window_days", "repositories", "frameworks",
                  "formats", "recipient_roles", "recipient_emails", "paused", "created_at", "updated_at"]  # fmt: skip
        read_only_fields = ["paused", "created_at", "updated_at"]


class SchedulePauseSerializer(serializers.Serializer):
    paused = serializers.BooleanField()


class ReportFileSerializer(serializers.ModelSerializer):
    download = serializers.SerializerMethodField()

    class Meta:
        model = ReportFile
        fields = ["name", "variant", "format", "content_type", "size", "sha256", "download"]

    def get_download(self, obj) -> str:
        return f"/api/v1/reports/archive/{obj.run.public_id}/files/{obj.variant}.{obj.format}"


class ReportDeliverySerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    attempts = serializers.SerializerMethodField()

    class Meta:
        model = ReportDelivery
        fields = ["id", "variant", "recipients", "message_id", "status", "failures", "last_error", "created_at",
                  "delivered_at", "attempts"]  # fmt: skip

    def get_attempts(self, obj) -> list[dict]:
        if obj.outbox is None:
            return []
        return [{"number": a.number, "at": a.started_at, "ok": a.ok, "error": a.error}
                for a in obj.outbox.attempt_log.all()]  # fmt: skip


class ReportSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    schedule = serializers.CharField(source="schedule.public_id", allow_null=True, default=None)
    files = ReportFileSerializer(many=True)

    class Meta:
        model = ReportRun
        fields = ["id", "report_type", "title", "scope", "trigger", "schedule", "manifest_sha256", "created_at",
                  "files"]  # fmt: skip


class ReportDetailSerializer(ReportSerializer):
    deliveries = ReportDeliverySerializer(many=True)

    class Meta(ReportSerializer.Meta):
        fields = [*ReportSerializer.Meta.fields, "manifest", "deliveries"]


class RecipientPolicySerializer(serializers.ModelSerializer):
    allowed_domains = serializers.ListField(child=serializers.CharField(max_length=253), allow_empty=True)

    class Meta:
        model = RecipientPolicy
        fields = ["allowed_domains", "updated_at"]
        read_only_fields = ["updated_at"]
