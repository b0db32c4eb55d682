"""Rows every app shares: the tenant-owned base, and the outbox (messages written with their cause).

The tenant model is named by settings.TENANT_MODEL (as AUTH_USER_MODEL names the user) so core never
imports the tenants app.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.querysets import TenantScopedQuerySet


class TenantOwned(models.Model):
    """Base for every row that belongs to one tenant: the tenant is required and indexed."""

    tenant = models.ForeignKey(
        settings.TENANT_MODEL, on_delete=models.PROTECT, db_index=True, related_name="+"
    )

    # `Model.objects.visible_to(user, "app.capability", tenant=...)`: the tenant's rows, or none.
    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        abstract = True


class OutboxMessage(TenantOwned):
    """An outbound message written in the transaction that caused it, delivered later by a task.

    `kind` names the channel and purpose ("email.approval_opened"); the transport is chosen by the
    part before the first dot (core.outbox.register_outbox_transport). Payload for e-mail is
    {"recipients": [...], "subject": ..., "body": ...}. The table keeps its first name
    (approvals_outboxmessage): the model moved to core without moving a row.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Dead letter (gave up)"

    kind = models.CharField(max_length=80)
    # Messages to one destination ("connector:12") are delivered strictly in id order; "" = unordered.
    destination = models.CharField(max_length=120, blank=True, default="")
    idempotency_key = models.CharField(max_length=200, unique=True)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # Each manual retry of a dead letter grants one more retry budget (core.outbox.MAX_ATTEMPTS).
    retries = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "approvals_outboxmessage"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="outbox_due"),
            models.Index(fields=["destination", "status", "id"], name="outbox_destination_queue"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.idempotency_key} ({self.status})"


class OutboxAttempt(models.Model):
    """One delivery attempt of an outbox message, kept for the record (errors redacted)."""

    message = models.ForeignKey(OutboxMessage, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    error = models.TextField(blank=True)

    class Meta:
        db_table = "approvals_outboxattempt"
        ordering = ["message", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number} {'ok' if self.ok else 'failed'}"
