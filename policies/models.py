"""Policy packs and their immutable versions, repositories, environments and rollouts."""

from __future__ import annotations

import secrets

from django.db import models
from django.utils import timezone

from core.models import TenantOwned
from tenants.models import User


def new_pack_id() -> str:
    return f"pol_{secrets.token_hex(10)}"


def new_version_id() -> str:
    return f"pv_{secrets.token_hex(10)}"


def new_rollout_id() -> str:
    return f"rol_{secrets.token_hex(10)}"


class PolicyPack(TenantOwned):
    """A named pack in a tenant: a bundled one installed from the portal, or one the tenant uploaded."""

    class Source(models.TextChoices):
        BUNDLED = "bundled", "Bundled with CAVRA"
        UPLOADED = "uploaded", "Uploaded by the tenant"

    public_id = models.CharField(max_length=40, unique=True, default=new_pack_id, editable=False)
    pack_id = models.CharField(max_length=120, help_text="metadata.id of the pack")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    source = models.CharField(max_length=20, choices=Source.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pack_id"]
        constraints = [models.UniqueConstraint(fields=["tenant", "pack_id"], name="policypack_unique_id")]

    def __str__(self) -> str:
        return self.pack_id


class PolicyVersion(TenantOwned):
    """One immutable version of a pack: its source, compiled form and digest never change."""

    public_id = models.CharField(max_length=40, unique=True, default=new_version_id, editable=False)
    pack = models.ForeignKey(PolicyPack, on_delete=models.PROTECT, related_name="versions")
    version = models.CharField(max_length=50)
    digest = models.CharField(max_length=64, db_index=True)
    source_text = models.TextField()
    compiled_json = models.TextField()
    rule_count = models.PositiveIntegerField(default=0)
    test_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["pack__pack_id", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "pack", "digest"], name="policyversion_unique_digest"),
        ]

    def __str__(self) -> str:
        return f"{self.pack.pack_id} {self.version} ({self.digest[:12]})"


class Repository(TenantOwned):
    name = models.CharField(max_length=300, help_text="e.g. acme/payments")
    description = models.CharField(max_length=300, blank=True)
    owners = models.ManyToManyField(User, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "repositories"
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="repository_unique_name")]

    def __str__(self) -> str:
        return self.name


class Environment(TenantOwned):
    name = models.CharField(max_length=100, help_text="e.g. dev, staging, prod")
    is_production = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="environment_unique_name")]

    def __str__(self) -> str:
        return self.name


class Rollout(TenantOwned):
    """A policy version applied to a scope. No repository / environment means tenant-wide."""

    class Mode(models.TextChoices):
        AUDIT_ONLY = "audit_only", "Audit only (allow, record what would happen)"
        ENFORCE = "enforce", "Enforce"
        STRICT = "strict", "Strict (allow becomes require approval)"

    public_id = models.CharField(max_length=40, unique=True, default=new_rollout_id, editable=False)
    version = models.ForeignKey(PolicyVersion, on_delete=models.PROTECT, related_name="rollouts")
    repository = models.ForeignKey(
        Repository, null=True, blank=True, on_delete=models.PROTECT, related_name="rollouts"
    )
    environment = models.ForeignKey(
        Environment, null=True, blank=True, on_delete=models.PROTECT, related_name="rollouts"
    )
    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.ENFORCE)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["repository__name", "environment__name"]
        constraints = [
            # One rollout per scope; NULLs (tenant-wide) are distinct in SQL, so each scope shape gets its own.
            models.UniqueConstraint(
                fields=["tenant", "repository", "environment"],
                name="rollout_unique_scope",
                nulls_distinct=False,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope_label}: {self.version} [{self.mode}]"

    @property
    def scope_label(self) -> str:
        repo = self.repository.name if self.repository_id else "all repositories"
        env = self.environment.name if self.environment_id else "all environments"
        return f"{repo} / {env}"


class RolloutChange(TenantOwned):
    """The history of a scope's rollout: what was applied, replaced or removed, by whom."""

    rollout_public_id = models.CharField(max_length=40)
    scope = models.CharField(max_length=500)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
