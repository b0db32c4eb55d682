"""API shapes for the posture endpoints."""

from __future__ import annotations

from rest_framework import serializers

from aispm.models import Finding


class ComponentSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["decisions", "findings"])
    key = serializers.CharField()
    points = serializers.FloatField()
    reason = serializers.CharField()


class ScoreSerializer(serializers.Serializer):
    score = serializers.IntegerField()
    v1_score = serializers.IntegerField()
    decisions = serializers.IntegerField()
    decision_weight_per_1000 = serializers.FloatField()
    components = ComponentSerializer(many=True)
    v1_components = ComponentSerializer(many=True)


class ScopedScoreSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    score = serializers.IntegerField()
    decisions = serializers.IntegerField()
    breakdown = ScoreSerializer()


class TrendPointSerializer(serializers.Serializer):
    day = serializers.DateField()
    score = serializers.IntegerField(allow_null=True)
    v1_score = serializers.IntegerField(allow_null=True)
    allow = serializers.IntegerField()
    audit_only = serializers.IntegerField()
    require_approval = serializers.IntegerField()
    block = serializers.IntegerField()
    findings_opened = serializers.IntegerField()
    findings_closed = serializers.IntegerField()
    approvals_decided = serializers.IntegerField()
    approval_minutes = serializers.FloatField(allow_null=True)
    approvals_expired = serializers.IntegerField()
    break_glass = serializers.IntegerField()


class PostureSerializer(serializers.Serializer):
    days = serializers.IntegerField()
    score = ScoreSerializer()
    outcomes = serializers.DictField(child=serializers.IntegerField())
    by_surface = ScopedScoreSerializer(many=True)
    by_repository = ScopedScoreSerializer(many=True)
    by_agent = ScopedScoreSerializer(many=True)
    trend = TrendPointSerializer(many=True)


class PostureQuerySerializer(serializers.Serializer):
    days = serializers.IntegerField(required=False, min_value=1, max_value=365, default=30)


class FindingSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    check = serializers.CharField(source="check_id")
    subject = serializers.CharField(source="subject_key")
    agent = serializers.CharField(source="agent_ref")
    acknowledged_by = serializers.SerializerMethodField()
    risk_accepted_by = serializers.SerializerMethodField()

    class Meta:
        model = Finding
        fields = [
            "id", "check", "subject", "title", "detail", "remediation", "surface", "severity", "status",
            "involved", "agent", "repository", "first_seen_at", "last_seen_at", "status_changed_at",
            "resolved_at", "acknowledged_by", "risk_accepted_by", "risk_accepted_reason",
            "risk_accepted_until", "reopened_count",
        ]  # fmt: skip

    def get_acknowledged_by(self, obj) -> str | None:
        return obj.acknowledged_by.email if obj.acknowledged_by_id else None

    def get_risk_accepted_by(self, obj) -> str | None:
        return obj.risk_accepted_by.email if obj.risk_accepted_by_id else None


class FindingTransitionSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=["acknowledge", "resolve", "reopen", "risk_accept"])
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    until = serializers.DateTimeField(required=False, allow_null=True, default=None)

    def validate(self, data):
        if data["action"] == "risk_accept":
            errors = {}
            if not data.get("reason", "").strip():
                errors["reason"] = "Say why the risk is accepted."
            if not data.get("until"):
                errors["until"] = "Give the time the acceptance expires."
            if errors:
                raise serializers.ValidationError(errors)
        return data


class TimelineEventSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    seq = serializers.IntegerField()
    kind = serializers.CharField()
    subject = serializers.CharField()
    actor = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    payload = serializers.JSONField()


class TimelineSerializer(serializers.Serializer):
    events = TimelineEventSerializer(many=True)
    next_before = serializers.IntegerField(allow_null=True)


class TimelineQuerySerializer(serializers.Serializer):
    kind = serializers.CharField(required=False, max_length=100, default="")
    before = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)


class ControlCoverageSerializer(serializers.Serializer):
    id = serializers.CharField()
    title = serializers.CharField()
    status = serializers.ChoiceField(choices=["covered", "partial", "not_covered"])
    reason = serializers.CharField()
    rules = serializers.ListField(child=serializers.CharField())
    decisions = serializers.IntegerField()
    evidence = serializers.IntegerField()


class FrameworkCoverageSerializer(serializers.Serializer):
    id = serializers.CharField()
    title = serializers.CharField()
    total = serializers.IntegerField()
    covered = serializers.IntegerField()
    partial = serializers.IntegerField()
    not_covered = serializers.IntegerField()
    percent = serializers.IntegerField()
    controls = ControlCoverageSerializer(many=True)


class CoverageQuerySerializer(serializers.Serializer):
    framework = serializers.CharField(required=False, max_length=40)
    days = serializers.IntegerField(required=False, min_value=1, max_value=365, default=30)


class NearMissGroupSerializer(serializers.Serializer):
    key = serializers.CharField(allow_blank=True)
    block = serializers.IntegerField()
    require_approval = serializers.IntegerField()
    critical = serializers.IntegerField()
    high = serializers.IntegerField()
    total = serializers.IntegerField()


class NearMissesSerializer(serializers.Serializer):
    by = serializers.CharField()
    days = serializers.IntegerField()
    groups = NearMissGroupSerializer(many=True)


class NearMissQuerySerializer(serializers.Serializer):
    by = serializers.ChoiceField(
        required=False, choices=["agent_ref", "rule_id", "repository"], default="rule_id"
    )
    days = serializers.IntegerField(required=False, min_value=1, max_value=365, default=30)


class ReadinessItemSerializer(serializers.Serializer):
    id = serializers.CharField()
    title = serializers.CharField()
    status = serializers.ChoiceField(choices=["pass", "fail", "not_evaluated"])
    detail = serializers.CharField()


class ReadinessSerializer(serializers.Serializer):
    type = serializers.CharField()
    tenant = serializers.CharField()
    created_at = serializers.CharField()
    ready_for_aispm_production = serializers.BooleanField()
    blockers = ReadinessItemSerializer(many=True)
    checks = ReadinessItemSerializer(many=True)
    key_id = serializers.CharField()
    signature = serializers.CharField()
