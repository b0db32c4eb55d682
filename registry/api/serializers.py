"""Shapes of the registry API: agents, credentials, MCP servers and tools, tool observations."""

from __future__ import annotations

from rest_framework import serializers

from core.api.validators import storable_json
from registry.models import (
    Agent,
    AgentCredential,
    CapabilityClass,
    McpServer,
    McpTool,
    RiskTier,
    WorkloadIdentityBinding,
)
from registry.profiles import ACTION_TYPES, PROFILE_CHOICES
from registry.services.mcp_servers import MCP_SERVER_FIELDS


class CredentialSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    state = serializers.ChoiceField(choices=["active", "revoked", "expired"], read_only=True)
    created_by = serializers.EmailField(
        source="created_by.email", allow_null=True, read_only=True, default=None
    )

    class Meta:
        model = AgentCredential
        fields = [
            "id",
            "prefix",
            "label",
            "state",
            "created_at",
            "created_by",
            "expires_at",
            "revoked_at",
            "last_used_at",
        ]


class IssuedCredentialSerializer(CredentialSerializer):
    token = serializers.CharField(read_only=True, help_text="The token itself; shown in this response only.")

    class Meta(CredentialSerializer.Meta):
        fields = [*CredentialSerializer.Meta.fields, "token"]


class CredentialIssueSerializer(serializers.Serializer):
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    label = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")


class WorkloadIdentitySerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    agent = serializers.CharField(source="agent.public_id", read_only=True)
    created_by = serializers.EmailField(
        source="created_by.email", allow_null=True, read_only=True, default=None
    )

    class Meta:
        model = WorkloadIdentityBinding
        fields = [
            "id",
            "agent",
            "issuer",
            "audience",
            "jwks_url",
            "subject",
            "required_claims",
            "enabled",
            "last_used_at",
            "created_at",
            "created_by",
        ]


class WorkloadIdentityBindSerializer(serializers.Serializer):
    """Input only; URL, glob and uniqueness rules live in registry.services.workload_identity_bind."""

    issuer = serializers.CharField(
        max_length=300, help_text="e.g. https://token.actions.githubusercontent.com"
    )
    audience = serializers.CharField(
        max_length=200, help_text="The audience the CI job requests its token for."
    )
    subject = serializers.CharField(max_length=300, help_text="Glob for the sub claim, e.g. repo:acme/app:*")
    required_claims = serializers.DictField(
        child=serializers.CharField(max_length=300),
        required=False,
        default=dict,
        help_text='Claim -> glob, e.g. {"repository": "acme/app", "ref": "refs/heads/main"}.',
    )
    jwks_url = serializers.CharField(
        max_length=500, required=False, allow_blank=True, default="", help_text="Empty: from OIDC discovery."
    )
    enabled = serializers.BooleanField(required=False, default=True)


class AgentSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    owner = serializers.EmailField(source="owner.email", allow_null=True, read_only=True, default=None)

    class Meta:
        model = Agent
        fields = [
            "id",
            "name",
            "description",
            "profile",
            "status",
            "owner",
            "allowed_repositories",
            "allowed_actions",
            "allowed_mcp_tools",
            "risk_tier",
            "last_seen_at",
            "created_at",
            "updated_at",
        ]


class AgentDetailSerializer(AgentSerializer):
    credentials = CredentialSerializer(many=True, read_only=True)

    class Meta(AgentSerializer.Meta):
        fields = [*AgentSerializer.Meta.fields, "credentials"]


class AgentWriteSerializer(serializers.Serializer):
    """Input only; every rule beyond the type lives in the registry services."""

    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    profile = serializers.ChoiceField(choices=PROFILE_CHOICES)
    owner = serializers.EmailField(required=False, allow_null=True, help_text="A member of the tenant.")
    status = serializers.ChoiceField(choices=Agent.Status.choices, required=False)
    allowed_repositories = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, max_length=200
    )
    allowed_actions = serializers.ListField(
        child=serializers.ChoiceField(choices=ACTION_TYPES), required=False, max_length=len(ACTION_TYPES)
    )
    allowed_mcp_tools = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, max_length=200
    )
    risk_tier = serializers.ChoiceField(choices=RiskTier.choices, required=False)


class McpToolSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    risk = serializers.CharField(read_only=True)

    class Meta:
        model = McpTool
        fields = [
            "id",
            "name",
            "capability_class",
            "risk",
            "status",
            "description",
            "input_schema",
            "approved_digest",
            "observed_digest",
            "approved_at",
            "first_seen_at",
            "last_observed_at",
            "changed_at",
        ]


class McpServerSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    owner = serializers.EmailField(source="owner.email", allow_null=True, read_only=True, default=None)

    class Meta:
        model = McpServer
        fields = ["id", *MCP_SERVER_FIELDS, "created_at", "updated_at"]


class McpServerDetailSerializer(McpServerSerializer):
    tools = McpToolSerializer(many=True, read_only=True)

    class Meta(McpServerSerializer.Meta):
        fields = [*McpServerSerializer.Meta.fields, "tools"]


class McpServerWriteSerializer(serializers.Serializer):
    server_id = serializers.CharField(max_length=100)
    name = serializers.CharField(max_length=120)
    publisher = serializers.CharField(required=False, allow_blank=True, max_length=120)
    description = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    transport = serializers.ChoiceField(choices=McpServer.Transport.choices)
    url = serializers.CharField(required=False, allow_blank=True, max_length=500)
    command = serializers.CharField(required=False, allow_blank=True, max_length=500)
    trust_tier = serializers.ChoiceField(choices=McpServer.TrustTier.choices, required=False)
    approval_state = serializers.ChoiceField(choices=McpServer.ApprovalState.choices, required=False)
    owner = serializers.EmailField(required=False, allow_null=True)
    capabilities = serializers.ListField(
        child=serializers.ChoiceField(choices=CapabilityClass.choices), required=False, max_length=20
    )


class McpToolObserveSerializer(serializers.Serializer):
    server_id = serializers.CharField(
        max_length=100, help_text="The server's id as registered (e.g. github)."
    )
    tool = serializers.CharField(max_length=128, help_text="The tool's name as the server lists it.")
    description = serializers.CharField(allow_blank=True, max_length=20_000, trim_whitespace=False)
    input_schema = serializers.JSONField(
        help_text="The tool's inputSchema, a JSON object.", validators=[storable_json]
    )
    capability_class = serializers.ChoiceField(choices=CapabilityClass.choices, required=False)


class McpToolObservationSerializer(serializers.Serializer):
    server_id = serializers.CharField()
    tool = McpToolSerializer()
    changed = serializers.BooleanField(help_text="True when the tool now differs from what was approved.")
