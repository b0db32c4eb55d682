"""Connectors: a tenant's configured destinations for events (SIEM, webhook, ITSM, chat)."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from cavra_engine.policy.vocabulary import SEVERITIES
from core.models import TenantOwned


def new_connector_id() -> str:
    return "con_" + secrets.token_hex(8)


class Connector(TenantOwned):
    """One destination. Its secret (token, key, password, or the chat webhook URL) is a Fernet token
    (core.secrets) in `secret_encrypted`: never returned, never shown, never in evidence."""

    class Kind(models.TextChoices):
        SPLUNK_HEC = "splunk_hec", "Splunk HTTP Event Collector"
        SENTINEL = "sentinel", "Microsoft Sentinel (Data Collector API)"
        DATADOG = "datadog", "Datadog logs"
        WEBHOOK = "webhook", "Signed webhook"
        SERVICENOW = "servicenow", "ServiceNow incident"
        JIRA = "jira", "Jira issue"
        SLACK = "slack", "Slack"
        TEAMS = "teams", "Microsoft Teams"

    class Redaction(models.TextChoices):
        NONE = "none", "None: the full event"
        STANDARD = "standard", "Standard: no targets, commands, paths, arguments or reasons"
        STRICT = "strict", "Strict: ids, type, severity and outcome only"

    public_id = models.CharField(max_length=32, unique=True, default=new_connector_id, editable=False)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    url = models.URLField(max_length=500, blank=True)
    # Kind-specific settings that are not secret (Sentinel workspace id, Jira project key, user names...).
    options = models.JSONField(default=dict, blank=True)
    secret_encrypted = models.TextField(blank=True)
    event_types = models.JSONField(default=list)
    min_severity = models.CharField(
        max_length=10, choices=[(s, s) for s in SEVERITIES], default=SEVERITIES[0]
    )
    redaction = models.CharField(max_length=10, choices=Redaction.choices, default=Redaction.STANDARD)
    batching = models.BooleanField(default=True)
    enabled = models.BooleanField(default=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="connector_unique_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def destination(self) -> str:
        """The outbox destination: one ordered queue per connector."""
        return f"connector:{self.pk}"

    @property
    def health(self) -> str:
        """disabled, unknown (never sent), healthy (the last send worked) or failing."""
        if not self.enabled:
            return "disabled"
        if self.last_success_at is None and self.last_error_at is None:
            return "unknown"
        if self.last_error_at is None or (
            self.last_success_at and self.last_success_at >= self.last_error_at
        ):
            return "healthy"
        return "failing"
