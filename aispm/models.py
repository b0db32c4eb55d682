"""Posture findings and their check thresholds, and the daily rollups the dashboards read."""

from __future__ import annotations

import secrets

from django.db import models
from django.utils import timezone

from cavra_engine.surfaces import SURFACE_LABELS
from tenants.models import TenantOwned, User

SURFACE_CHOICES = list(SURFACE_LABELS.items())
SEVERITY_CHOICES = [("critical", "Critical"), ("high", "High"), ("medium", "Medium"), ("low", "Low")]


def new_finding_id() -> str:
    return f"fnd_{secrets.token_hex(12)}"


class Finding(TenantOwned):
    """One failing posture check about one object (an agent, a credential, a rollout, the tenant)."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"
        RISK_ACCEPTED = "risk_accepted", "Risk accepted"

    public_id = models.CharField(max_length=40, unique=True, default=new_finding_id, editable=False)
    check_id = models.CharField(max_length=80)
    subject_key = models.CharField(max_length=200, help_text="What the finding is about, e.g. agent:agt_….")
    title = models.CharField(max_length=300)
    detail = models.TextField(blank=True)
    remediation = models.TextField(blank=True)
    surface = models.CharField(max_length=30, choices=SURFACE_CHOICES)
    severity = models.CharField(max_length=10, choices=SEVERITY_CHOICES)
    involved = models.JSONField(default=list, blank=True, help_text="[{type, id, label, url}] involved.")
    agent_ref = models.CharField(max_length=64, blank=True)
    repository = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    status_changed_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    risk_accepted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    risk_accepted_reason = models.TextField(blank=True)
    risk_accepted_until = models.DateTimeField(null=True, blank=True)
    reopened_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-status_changed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "check_id", "subject_key"], name="finding_unique_subject"
            )
        ]
        indexes = [models.Index(fields=["tenant", "status", "severity"], name="finding_tenant_status")]

    def __str__(self) -> str:
        return f"{self.public_id} {self.check_id} ({self.status})"

    @property
    def is_unresolved(self) -> bool:
        return self.status in (self.Status.OPEN, self.Status.ACKNOWLEDGED)


class CheckSetting(TenantOwned):
    """A tenant admin's threshold (days) or switch-off for one posture check."""

    check_id = models.CharField(max_length=80)
    enabled = models.BooleanField(default=True)
    threshold_days = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "check_id"], name="checksetting_unique")]


class DecisionRollup(TenantOwned):
    """Decisions of one UTC day counted by every dimension the dashboards cut by."""

    day = models.DateField()
    surface = models.CharField(max_length=30)
    outcome = models.CharField(
        max_length=20, help_text="allow, block, require_approval, or audit_only (allowed, would have held)."
    )
    severity = models.CharField(max_length=20, blank=True)
    agent_ref = models.CharField(max_length=64, blank=True)
    repository = models.CharField(max_length=300, blank=True)
    rule_id = models.CharField(max_length=200, blank=True)
    count = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["tenant", "day"], name="decrollup_tenant_day")]


class ControlRollup(TenantOwned):
    """Decisions of one UTC day that exercised a control, by the rule that mapped them to it."""

    day = models.DateField()
    framework = models.CharField(max_length=40)
    control_id = models.CharField(max_length=60)
    rule_id = models.CharField(max_length=200, blank=True)
    count = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["tenant", "framework", "day"], name="ctlrollup_tenant_fw_day")]


class DailyPosture(TenantOwned):
    """One row per tenant and UTC day: the score as of that day and the day's governance counters."""

    day = models.DateField()
    score = models.PositiveSmallIntegerField()
    v1_score = models.PositiveSmallIntegerField()
    decisions = models.BigIntegerField(default=0)
    findings_open = models.PositiveIntegerField(default=0)
    findings_opened = models.PositiveIntegerField(default=0)
    findings_closed = models.PositiveIntegerField(default=0)
    approvals_decided = models.PositiveIntegerField(default=0)
    approval_seconds_total = models.BigIntegerField(default=0)
    approvals_expired = models.PositiveIntegerField(default=0)
    break_glass = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["day"]
        constraints = [models.UniqueConstraint(fields=["tenant", "day"], name="dailyposture_unique_day")]

    @property
    def approval_minutes_avg(self) -> float | None:
        if not self.approvals_decided:
            return None
        return round(self.approval_seconds_total / self.approvals_decided / 60, 1)
