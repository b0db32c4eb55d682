"""Agents, their credentials, and the MCP servers and tools a tenant trusts."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from core.models import TenantOwned
from registry.profiles import PROFILE_CHOICES

_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def _public_id(prefix: str) -> str:
    return prefix + "_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))


def new_agent_id() -> str:
    return _public_id("agt")


def new_credential_id() -> str:
    return _public_id("cred")


def new_server_id() -> str:
    return _public_id("mcp")


def new_tool_id() -> str:
    return _public_id("tool")


def new_workload_identity_id() -> str:
    return _public_id("wid")


AGENT_NAME_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$",
    "Use 1-100 letters, digits, dots, underscores and hyphens, starting with a letter or digit.",
)
SERVER_ID_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9@][A-Za-z0-9._@/-]{0,99}$",
    "Use 1-100 letters, digits and . _ @ / -, without spaces or colons.",
)
TOOL_NAME_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}$",
    "Use 1-128 letters, digits and _ . : / -, without spaces.",
)


class RiskTier(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class Agent(TenantOwned):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        RETIRED = "retired", "Retired"

    public_id = models.CharField(max_length=32, unique=True, default=new_agent_id, editable=False)
    name = models.CharField(max_length=100, validators=[AGENT_NAME_VALIDATOR])
    description = models.TextField(blank=True)
    profile = models.CharField(max_length=40, choices=PROFILE_CHOICES, default="read-only")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    allowed_repositories = models.JSONField(
        default=list, blank=True, help_text="Repository globs such as acme/*; empty means every repository."
    )
    allowed_actions = models.JSONField(
        default=list,
        blank=True,
        help_text="Custom profile: the action types allowed. Built-in profiles: optional narrowing.",
    )
    allowed_mcp_tools = models.JSONField(
        default=list,
        blank=True,
        help_text="server:tool globs. Custom profile: the tools allowed. Built-in: optional narrowing.",
    )
    risk_tier = models.CharField(max_length=20, choices=RiskTier.choices, default=RiskTier.MEDIUM)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="agent_unique_name_per_tenant")
        ]
        indexes = [models.Index(fields=["tenant", "status"], name="agent_tenant_status")]

    def __str__(self) -> str:
        return self.name


class AgentCredential(TenantOwned):
    """A bearer token `cvr_…`; only its SHA-256 and its first 12 characters are ever stored."""

    public_id = models.CharField(max_length=32, unique=True, default=new_credential_id, editable=False)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="credentials")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=12, editable=False)
    label = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    replaced_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.agent.name})"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.is_expired else "active"


class WorkloadIdentityBinding(TenantOwned):
    """Lets a CI workload act as `agent` with its provider's short-lived OIDC token instead of a stored
    secret: the token's issuer must be `issuer`, its audience must include `audience`, its `sub` must
    match the `subject` glob and each claim in `required_claims` its glob (all case-sensitive)."""

    public_id = models.CharField(max_length=32, unique=True, default=new_workload_identity_id, editable=False)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="workload_identities")
    issuer = models.CharField(
        max_length=300, help_text="The provider's issuer URL, exactly as in the token's iss claim."
    )
    audience = models.CharField(max_length=200, help_text="A value the token's aud claim must contain.")
    jwks_url = models.CharField(
        "JWKS URL",
        max_length=500,
        blank=True,
        help_text="Empty: the jwks_uri of the issuer's /.well-known/openid-configuration.",
    )
    subject = models.CharField(max_length=300, help_text="Glob the token's sub claim must match.")
    required_claims = models.JSONField(
        default=dict, blank=True, help_text='Claim -> glob, e.g. {"repository": "acme/*"}; all must match.'
    )
    enabled = models.BooleanField(default=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "workload identity binding"
        indexes = [models.Index(fields=["issuer", "enabled"], name="wid_issuer_enabled")]

    def __str__(self) -> str:
        return f"{self.issuer} {self.subject} -> {self.agent_id and self.agent.name}"


class McpServer(TenantOwned):
    class Transport(models.TextChoices):
        STDIO = "stdio", "stdio"
        HTTP = "http", "Streamable HTTP"
        SSE = "sse", "SSE"

    class TrustTier(models.TextChoices):
        TRUSTED = "trusted", "Trusted"
        APPROVED = "approved", "Approved"
        EXPERIMENTAL = "experimental", "Experimental"
        BLOCKED = "blocked", "Blocked"

    class ApprovalState(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    public_id = models.CharField(max_length=32, unique=True, default=new_server_id, editable=False)
    server_id = models.CharField(
        "server id",
        max_length=100,
        validators=[SERVER_ID_VALIDATOR],
        help_text="The name agents use for this server (the part before ':' in server:tool).",
    )
    name = models.CharField(max_length=120)
    publisher = models.CharField(max_length=120, blank=True)
    description = models.TextField(blank=True)
    transport = models.CharField(max_length=10, choices=Transport.choices, default=Transport.STDIO)
    url = models.URLField(max_length=500, blank=True)
    command = models.CharField(max_length=500, blank=True)
    trust_tier = models.CharField(max_length=20, choices=TrustTier.choices, default=TrustTier.EXPERIMENTAL)
    approval_state = models.CharField(
        max_length=20, choices=ApprovalState.choices, default=ApprovalState.PENDING
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    capabilities = models.JSONField(default=list, blank=True, help_text="Capability classes it offers.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["server_id"]
        verbose_name = "MCP server"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "server_id"], name="mcpserver_unique_server_id")
        ]

    def __str__(self) -> str:
        return self.server_id


class CapabilityClass(models.TextChoices):
    FILESYSTEM = "filesystem", "Filesystem"
    SHELL = "shell", "Shell"
    NETWORK = "network", "Network"
    DATABASE = "database", "Database"
    SAAS = "saas", "SaaS"
    CLOUD = "cloud", "Cloud"
    REPOSITORY = "repository", "Repository"


CAPABILITY_RISK: dict[str, str] = {
    CapabilityClass.FILESYSTEM: RiskTier.MEDIUM,
    CapabilityClass.SHELL: RiskTier.CRITICAL,
    CapabilityClass.NETWORK: RiskTier.MEDIUM,
    CapabilityClass.DATABASE: RiskTier.HIGH,
    CapabilityClass.SAAS: RiskTier.MEDIUM,
    CapabilityClass.CLOUD: RiskTier.HIGH,
    CapabilityClass.REPOSITORY: RiskTier.MEDIUM,
}


class McpTool(TenantOwned):
    """One tool of a server. `approved_digest` pins what a human approved; a different
    `observed_digest` is a rug pull and the tool needs approval again."""

    class Status(models.TextChoices):
        APPROVED = "approved", "Approved"
        CHANGED = "changed", "Changed since approval"
        PENDING = "pending", "Pending approval"

    public_id = models.CharField(max_length=32, unique=True, default=new_tool_id, editable=False)
    server = models.ForeignKey(McpServer, on_delete=models.CASCADE, related_name="tools")
    name = models.CharField(max_length=128, validators=[TOOL_NAME_VALIDATOR])
    capability_class = models.CharField(
        max_length=20, choices=CapabilityClass.choices, default=CapabilityClass.SAAS
    )
    description = models.TextField(blank=True, help_text="The description as last approved.")
    input_schema = models.JSONField(default=dict, blank=True, help_text="The input schema as last approved.")
    approved_digest = models.CharField(max_length=64, blank=True)
    observed_description = models.TextField(blank=True)
    observed_input_schema = models.JSONField(default=dict, blank=True)
    observed_digest = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_observed_at = models.DateTimeField(null=True, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["server_id", "name"]
        verbose_name = "MCP tool"
        constraints = [
            models.UniqueConstraint(fields=["server", "name"], name="mcptool_unique_name_per_server")
        ]
        indexes = [models.Index(fields=["tenant", "status"], name="mcptool_tenant_status")]

    def __str__(self) -> str:
        return f"{self.server_id and self.server.server_id}:{self.name}"

    @property
    def risk(self) -> str:
        return CAPABILITY_RISK.get(self.capability_class, RiskTier.MEDIUM)
