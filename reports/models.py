"""Report schedules, generated reports (files with digests and a signed manifest), recipient policies, deliveries."""

from __future__ import annotations

import secrets

from django.db import models
from django.utils.timezone import now

from core.models import OutboxMessage
from tenants.models import TenantOwned, User


def new_report_id() -> str:
    return f"rpt_{secrets.token_hex(12)}"


def new_schedule_id() -> str:
    return f"rsc_{secrets.token_hex(12)}"


def new_delivery_id() -> str:
    return f"rdl_{secrets.token_hex(12)}"


class RecipientPolicy(TenantOwned):
    """Which external e-mail domains a tenant's reports may go to (members are always allowed)."""

    allowed_domains = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(default=now)
    updated_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="report_recipient_policy_one")]

    def __str__(self) -> str:
        return ", ".join(self.allowed_domains) or "(members only)"


class ReportSchedule(TenantOwned):
    """One report type on a cron cadence in a time zone, with its scope, format and recipients."""

    public_id = models.CharField(max_length=40, unique=True, default=new_schedule_id, editable=False)
    name = models.CharField(max_length=120)
    report_type = models.CharField(max_length=40)
    cron = models.CharField(
        max_length=120, help_text="Five fields: minute hour day-of-month month day-of-week."
    )
    timezone = models.CharField(max_length=64, default="UTC")
    window_days = models.PositiveIntegerField(default=30)
    repositories = models.JSONField(default=list, blank=True)
    frameworks = models.JSONField(default=list, blank=True)
    formats = models.JSONField(default=list, blank=True)
    recipient_roles = models.JSONField(default=list, blank=True)
    recipient_emails = models.JSONField(default=list, blank=True)
    paused = models.BooleanField(default=False)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def get_report_title(self) -> str:
        from reports.catalogue import REPORT_TYPES

        kind = REPORT_TYPES.get(self.report_type)
        return kind.title if kind else self.report_type


class ReportRun(TenantOwned):
    """One generated report: its files (in ReportFile), the signed manifest over them, how it was started."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        RUN_NOW = "run_now", "Run now"
        ON_DEMAND = "on_demand", "On demand"

    public_id = models.CharField(max_length=40, unique=True, default=new_report_id, editable=False)
    schedule = models.ForeignKey(
        ReportSchedule, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    report_type = models.CharField(max_length=40)
    title = models.CharField(max_length=200)
    scope = models.JSONField(default=dict)
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    manifest = models.JSONField(default=dict)
    manifest_sha256 = models.CharField(max_length=64)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "created_at"], name="report_run_tenant_created")]

    def __str__(self) -> str:
        return f"{self.title} ({self.public_id})"


class ReportFile(models.Model):
    """One rendered file of a report; `variant` is `full` or `redacted` (for external recipients)."""

    run = models.ForeignKey(ReportRun, on_delete=models.CASCADE, related_name="files")
    variant = models.CharField(max_length=10, default="full")
    format = models.CharField(max_length=10)
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    content = models.BinaryField()

    class Meta:
        ordering = ["variant", "format", "id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "variant", "format"], name="report_file_one_per_format")
        ]

    def __str__(self) -> str:
        return self.name


class ReportDelivery(TenantOwned):
    """One e-mail of one report to a set of recipients; its attempts are the outbox message's attempts."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        ESCALATED = "escalated", "Failing (escalated)"
        FAILED = "failed", "Failed (gave up)"

    public_id = models.CharField(max_length=40, unique=True, default=new_delivery_id, editable=False)
    run = models.ForeignKey(ReportRun, on_delete=models.CASCADE, related_name="deliveries")
    variant = models.CharField(max_length=10, default="full")
    recipients = models.JSONField(default=list)
    message_id = models.CharField(max_length=250, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    failures = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    outbox = models.OneToOneField(
        OutboxMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="report_delivery"
    )
    created_at = models.DateTimeField(default=now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.public_id} {self.variant} ({self.status})"
