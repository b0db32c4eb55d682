"""Approval requests and reviews, routing rules, reviewer grants, break-glass, and the outbox."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from cavra_engine.policy import vocabulary
from core.models import TenantOwned
from core.roles import Role

_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"

DEFAULT_TTL_SECONDS = 3600


def new_approval_id() -> str:
    return "apr_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(20))


class Severity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


SEVERITY_RANK = vocabulary.SEVERITY_RANK


class ReviewerGroup(models.TextChoices):
    """Labels on routing rules; every group is served by holders of the routed role."""

    PLATFORM_SECURITY = "platform-security", "Platform security"
    CLOUD_SECURITY = "cloud-security", "Cloud security"
    AI_GOVERNANCE = "ai-governance", "AI governance"
    REPOSITORY_OWNERS = "repository-owners", "Repository owners"
    SECURITY = "security", "Security"


class RoutingRule(TenantOwned):
    """Which reviewers decide a request, how many must agree, and how long the answer is good for.

    Rules are tried in `position` order; the first whose every non-empty matcher matches wins.
    """

    position = models.PositiveIntegerField(default=100)
    name = models.CharField(max_length=120)
    enabled = models.BooleanField(default=True)
    # Matchers: empty means "any".
    match_rule_id = models.CharField(
        max_length=200,
        blank=True,
        help_text="Policy rule id, or a prefix ending in * (e.g. filesystem.write.*).",
    )
    match_actions = models.JSONField(default=list, blank=True, help_text='Action types, e.g. ["write_file"].')
    match_severities = models.JSONField(
        default=list, blank=True, help_text='Severities, e.g. ["high", "critical"].'
    )
    match_repository = models.CharField(max_length=300, blank=True, help_text="Repository glob, e.g. acme/*.")
    match_environment = models.CharField(
        max_length=100, blank=True, help_text="Environment glob, e.g. prod*."
    )
    match_policy_pack = models.CharField(max_length=200, blank=True, help_text="Policy pack id glob.")
    match_target_contains = models.JSONField(
        default=list, blank=True, help_text="Substrings; the target must contain one (case-insensitive)."
    )
    # Outcome.
    group = models.CharField(max_length=40, choices=ReviewerGroup.choices, default=ReviewerGroup.SECURITY)
    reviewer_role = models.CharField(max_length=40, choices=Role.choices, default=Role.SECURITY_REVIEWER)
    repository_limited = models.BooleanField(
        default=False, help_text="Only reviewers holding a repository grant matching the request may decide."
    )
    quorum = models.PositiveSmallIntegerField(default=1)
    deny_ends = models.BooleanField(default=True, help_text="Any single deny ends the request.")
    ttl_seconds = models.PositiveIntegerField(default=DEFAULT_TTL_SECONDS)
    reason_required = models.BooleanField(default=True)
    single_use = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["tenant", "position"], name="apr_rule_tenant_pos")]

    def __str__(self) -> str:
        return f"{self.position}. {self.name}"


class ReviewerRepositoryGrant(TenantOwned):
    """A reviewer may decide requests of repositories matching this glob (repository-limited rules)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    repository_glob = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["repository_glob"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user", "repository_glob"], name="apr_grant_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} -> {self.repository_glob}"


class BreakGlassGrant(TenantOwned):
    """A member other than a tenant admin who may break glass in this tenant."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "user"], name="apr_breakglass_grant_unique")]

    def __str__(self) -> str:
        return f"break-glass: {self.user}"


class ApprovalRequest(TenantOwned):
    """One agent action (or another subject, e.g. a policy publish) waiting for or holding a human answer.

    An agent action is bound to the action's digest. Other subject types (registered by higher apps
    in approvals.subjects) name their subject in `subject_type` + `subject_ref`, have no agent, and
    are requested by a person, who may never decide their own request.
    """

    AGENT_ACTION = "agent_action"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        DENIED = "denied", "Denied"
        EXPIRED = "expired", "Expired"
        CANCELLED = "cancelled", "Cancelled"
        BREAK_GLASS = "break_glass", "Break-glass"
        CONSUMED = "consumed", "Consumed"

    public_id = models.CharField(max_length=32, unique=True, default=new_approval_id, editable=False)
    agent = models.ForeignKey(
        "registry.Agent", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    subject_type = models.CharField(max_length=40, default=AGENT_ACTION, db_index=True)
    subject_ref = models.CharField(max_length=64, blank=True, help_text="Public id of a non-agent subject.")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    summary = models.JSONField(
        default=dict, blank=True, help_text="What the reviewer is shown for the subject."
    )
    decision = models.ForeignKey(
        "evidence.Decision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    session = models.ForeignKey(
        "evidence.AgentSession", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action_digest = models.CharField(max_length=64)
    action = models.CharField(max_length=40)
    target = models.TextField()
    repository = models.CharField(max_length=300, blank=True)
    environment = models.CharField(max_length=100, blank=True)
    rule_id = models.CharField(max_length=200, blank=True)
    severity = models.CharField(max_length=20, choices=Severity.choices, default=Severity.MEDIUM)
    severity_rank = models.PositiveSmallIntegerField(default=2)
    reason = models.TextField(blank=True)
    policy_pack = models.CharField(max_length=200, blank=True)
    policy_digest = models.CharField(max_length=80, blank=True)
    approvers_hint = models.JSONField(default=list, blank=True)
    # Routing, copied from the matched rule so later rule edits do not change an open request.
    routing_rule = models.ForeignKey(
        RoutingRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    group = models.CharField(max_length=40, choices=ReviewerGroup.choices, default=ReviewerGroup.SECURITY)
    reviewer_role = models.CharField(max_length=40, choices=Role.choices, default=Role.SECURITY_REVIEWER)
    repository_limited = models.BooleanField(default=False)
    quorum = models.PositiveSmallIntegerField(default=1)
    deny_ends = models.BooleanField(default=True)
    reason_required = models.BooleanField(default=True)
    single_use = models.BooleanField(default=True)

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    is_break_glass = models.BooleanField(default=False, help_text="Allowed by break-glass, not by review.")
    requested_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decision_reason = models.TextField(blank=True)
    consumed_at = models.DateTimeField(null=True, blank=True)
    use_count = models.PositiveIntegerField(default=0)
    escalated_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "status", "-severity_rank", "-requested_at"], name="apr_queue"),
            models.Index(fields=["tenant", "-requested_at"], name="apr_tenant_requested"),
            models.Index(fields=["status", "expires_at"], name="apr_status_expiry"),
            models.Index(fields=["tenant", "agent", "-requested_at"], name="apr_tenant_agent"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.action} {self.status}"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.PENDING

    @property
    def is_overdue(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def effective_status(self) -> str:
        """What the status is now, counting a passed expiry that the beat task has not yet recorded."""
        if self.status in LIVE_STATUSES and self.is_overdue:
            return self.Status.EXPIRED
        return self.status

    @property
    def effective_status_display(self) -> str:
        return self.Status(self.effective_status).label

    @property
    def is_decidable(self) -> bool:
        """Pending and not past its expiry: the only state in which approve/deny can be offered."""
        return self.effective_status == self.Status.PENDING


# States that end by themselves when `expires_at` passes (read as expired before the beat task records it).
LIVE_STATUSES = frozenset(
    {ApprovalRequest.Status.PENDING, ApprovalRequest.Status.APPROVED, ApprovalRequest.Status.BREAK_GLASS}
)


def effective_status_q(status: str, now) -> models.Q:
    """A filter on the status as it reads now (see `ApprovalRequest.effective_status`)."""
    S = ApprovalRequest.Status
    if status == S.EXPIRED:
        return models.Q(status=S.EXPIRED) | models.Q(status__in=LIVE_STATUSES, expires_at__lte=now)
    if status in LIVE_STATUSES:
        return models.Q(status=status, expires_at__gt=now)
    return models.Q(status=status)


class Review(TenantOwned):
    """One reviewer's answer to one request; a person counts at most once toward a quorum."""

    class Verdict(models.TextChoices):
        APPROVE = "approve", "Approve"
        DENY = "deny", "Deny"
        BREAK_GLASS = "break_glass", "Break-glass"

    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    verdict = models.CharField(max_length=20, choices=Verdict.choices)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["request", "reviewer"], name="apr_review_once_per_person")
        ]

    def __str__(self) -> str:
        return f"{self.reviewer} {self.verdict} {self.request.public_id}"


class BreakGlassReview(TenantOwned):
    """The mandatory after-the-fact review of a break-glass use."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    request = models.OneToOneField(
        ApprovalRequest, on_delete=models.CASCADE, related_name="break_glass_review"
    )
    invoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    justification = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    review_notes = models.TextField(blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="apr_bg_tenant_created")]

    def __str__(self) -> str:
        return f"post-hoc review of {self.request.public_id} ({self.status})"
