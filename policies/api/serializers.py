"""Request and response shapes of the decision API."""

from __future__ import annotations

from rest_framework import serializers

from cavra_engine.policy.vocabulary import ACTIONS, VERDICTS
from core.api.validators import storable_json
from evidence.models import AgentSession, Decision
from evidence.services.common import evidence_reference

MAX_TARGET = 8192


class McpSerializer(serializers.Serializer):
    server = serializers.CharField(max_length=200)
    tool = serializers.CharField(max_length=200, required=False, allow_blank=True)
    arguments = serializers.JSONField(required=False, validators=[storable_json])
    capability = serializers.CharField(max_length=50, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    input_schema = serializers.JSONField(required=False, validators=[storable_json])


class DecisionRequestSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=ACTIONS)
    target = serializers.CharField(max_length=MAX_TARGET, trim_whitespace=False)
    session_id = serializers.CharField(max_length=64, required=False, allow_null=True)
    repository = serializers.CharField(max_length=300, required=False, allow_null=True, allow_blank=True)
    environment = serializers.CharField(max_length=100, required=False, allow_null=True, allow_blank=True)
    operation = serializers.CharField(max_length=40, required=False, allow_null=True, allow_blank=True)
    branch = serializers.CharField(max_length=300, required=False, allow_null=True, allow_blank=True)
    force = serializers.BooleanField(required=False, allow_null=True)
    remote = serializers.CharField(max_length=300, required=False, allow_null=True, allow_blank=True)
    method = serializers.CharField(max_length=16, required=False, allow_null=True, allow_blank=True)
    mcp = McpSerializer(required=False, allow_null=True)
    approval_id = serializers.CharField(max_length=64, required=False, allow_null=True, allow_blank=True)
    context = serializers.DictField(required=False, allow_null=True, validators=[storable_json])

    def validate_target(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("The target must not be empty.")
        if "\x00" in value:
            raise serializers.ValidationError("The target must not contain NUL bytes.")
        return value

    def validate(self, attrs):
        if attrs["action"] == "mcp_tool_call" and not attrs.get("mcp"):
            server, _, tool = attrs["target"].partition(":")
            if not server or not tool:
                raise serializers.ValidationError(
                    {"mcp": "An mcp_tool_call needs `mcp` {server, tool} or a target 'server:tool'."}
                )
            attrs["mcp"] = {"server": server, "tool": tool}
        return attrs


class PolicyRefSerializer(serializers.Serializer):
    pack = serializers.CharField(allow_null=True)
    version = serializers.CharField(allow_null=True)
    digest = serializers.CharField(allow_null=True)
    mode = serializers.CharField(allow_null=True)


class ApprovalRefSerializer(serializers.Serializer):
    id = serializers.CharField()
    status = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)
    url = serializers.CharField()


class EvidenceRefSerializer(serializers.Serializer):
    id = serializers.CharField(
        allow_null=True,
        help_text="The evidence record's id (evd_…), known at once; the record exists once integrated.",
    )
    leaf_hash = serializers.CharField(
        allow_null=True,
        help_text="SHA-256 of the record's leaf (docs/evidence-format.md, Leaves): committed durably with the answer.",
    )
    seq = serializers.IntegerField(
        allow_null=True,
        help_text="Position in the tenant's chain; null until the sequencer integrated the leaf.",
    )
    hash = serializers.CharField(allow_null=True, help_text="The record's chain hash; null until integrated.")


class DecisionResponseSerializer(serializers.Serializer):
    decision_id = serializers.CharField()
    decision = serializers.ChoiceField(choices=list(VERDICTS))
    rule_id = serializers.CharField(allow_null=True)
    reason = serializers.CharField()
    severity = serializers.CharField(allow_null=True)
    policy = PolicyRefSerializer()
    approval = ApprovalRefSerializer(allow_null=True)
    evidence = EvidenceRefSerializer()
    session_id = serializers.CharField(allow_null=True)
    timestamp = serializers.DateTimeField()
    audit_only = serializers.DictField(
        required=False, help_text="In audit_only mode: what enforce would have said."
    )


class DecisionSerializer(serializers.ModelSerializer):
    decision_id = serializers.CharField(source="public_id")
    session_id = serializers.SerializerMethodField()
    agent = serializers.CharField(source="agent_ref")
    policy = serializers.SerializerMethodField()
    evidence = serializers.SerializerMethodField()

    class Meta:
        model = Decision
        fields = [
            "decision_id",
            "decision",
            "action",
            "target",
            "repository",
            "environment",
            "rule_id",
            "severity",
            "reason",
            "agent",
            "session_id",
            "policy",
            "evidence",
            "created_at",
        ]

    def get_session_id(self, obj) -> str | None:
        return obj.session.public_id if obj.session_id else None

    def get_policy(self, obj) -> dict:
        return {
            "pack": obj.policy_pack,
            "version": obj.policy_version,
            "digest": obj.policy_digest,
            "mode": obj.policy_mode,
        }

    def get_evidence(self, obj) -> dict | None:
        if obj.evidence_id is None:
            return None
        return evidence_reference(obj.evidence)


class SessionCreateSerializer(serializers.Serializer):
    repository = serializers.CharField(max_length=300, required=False, allow_blank=True)
    environment = serializers.CharField(max_length=100, required=False, allow_blank=True)
    metadata = serializers.DictField(required=False, validators=[storable_json])


class SessionSerializer(serializers.ModelSerializer):
    session_id = serializers.CharField(source="public_id")
    agent = serializers.CharField(source="agent_ref")

    class Meta:
        model = AgentSession
        fields = [
            "session_id",
            "agent",
            "agent_name",
            "repository",
            "environment",
            "started_at",
            "last_seen_at",
            "ended_at",
            "metadata",
        ]


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded"])
    database = serializers.CharField()
    cache = serializers.CharField()
    time = serializers.DateTimeField()


class PolicyBundleEnvelopeSerializer(serializers.Serializer):
    bundle = serializers.JSONField(
        help_text="type cavra.policy-bundle/v1: tenant, issued_at, expires_at, scope, policy (with the compiled "
        "JSON), agent (registry slice), mcp_servers, canaries. Verify before use; see docs/agent-reach.md."
    )
    key_id = serializers.CharField(help_text="The tenant key that signed it (in the evidence trust root).")
    signature = serializers.CharField(help_text="Ed25519 over the RFC 8785 canonical JSON of `bundle`, hex.")


class OfflineSyncRequestSerializer(serializers.Serializer):
    entries = serializers.ListField(
        child=serializers.DictField(),
        max_length=500,
        help_text="Entries of the agent's offline spool (cavra.offline-decision/v1), in order.",
    )


class OfflineSyncedEntrySerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    hash = serializers.CharField()
    decision_id = serializers.CharField()
    duplicate = serializers.BooleanField(help_text="Uploaded before: nothing new was recorded.")


class OfflineSyncResponseSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    entries = OfflineSyncedEntrySerializer(many=True)


class DecisionOutcomeRequestSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=["completed", "failed"])
    tool_use_id = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    response_sha256 = serializers.RegexField(r"^[0-9a-f]{64}$", required=False, allow_blank=True, default="")
    detail = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class DecisionOutcomeSerializer(serializers.Serializer):
    decision_id = serializers.CharField()
    outcome = serializers.CharField()
    evidence = EvidenceRefSerializer()
    recorded_before = serializers.BooleanField(help_text="An outcome was already recorded; this is that one.")
