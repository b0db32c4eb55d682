"""API shapes for approval requests, reviews and break-glass."""

from __future__ import annotations

from rest_framework import serializers

from approvals.models import ApprovalRequest
from approvals.services import approval_url


class ApprovalAgentSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    name = serializers.CharField()


class ApprovalSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", help_text="Public id, apr_…")
    status = serializers.ChoiceField(
        source="effective_status",
        choices=ApprovalRequest.Status.choices,
        help_text="Current state; a passed expiry reads as expired even before the beat task records it.",
    )
    agent = ApprovalAgentSerializer()
    decision_id = serializers.SerializerMethodField()
    decided_by = serializers.SerializerMethodField()
    break_glass = serializers.BooleanField(source="is_break_glass")
    url = serializers.SerializerMethodField()

    class Meta:
        model = ApprovalRequest
        fields = [
            "id",
            "status",
            "break_glass",
            "agent",
            "decision_id",
            "action",
            "target",
            "repository",
            "environment",
            "rule_id",
            "severity",
            "reason",
            "policy_pack",
            "policy_digest",
            "action_digest",
            "group",
            "quorum",
            "single_use",
            "use_count",
            "requested_at",
            "expires_at",
            "decided_at",
            "decided_by",
            "decision_reason",
            "url",
        ]

    def get_decision_id(self, obj) -> str | None:
        return obj.decision.public_id if obj.decision_id else None

    def get_decided_by(self, obj) -> str | None:
        return obj.decided_by.email if obj.decided_by_id else None

    def get_url(self, obj) -> str:
        return approval_url(obj)


class ApprovalQueueSerializer(serializers.Serializer):
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = ApprovalSerializer(many=True)


class ReviewInputSerializer(serializers.Serializer):
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=2000,
        help_text="Why; required when the routing rule says so.",
    )


class BreakGlassInputSerializer(serializers.Serializer):
    approval_id = serializers.CharField(
        max_length=40, help_text="The pending or denied request to allow, apr_…"
    )
    justification = serializers.CharField(max_length=4000, help_text="Why this cannot wait for review.")
