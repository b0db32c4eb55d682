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
    # Set once, at publish, in the same transaction: policy.yaml.sig.json of this version.
    signature = models.JSONField(null=True, blank=True)
    plan_ref = models.CharField(
        max_length=40, blank=True, help_text="The publish plan this version came from."
    )

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
        BREAK_GLASS = "break_glass", "Break glass (an attested action skips approval; blocks stay)"
        ENFORCE = "enforce", "Enforce"
        STRICT_REGULATED = "strict_regulated", "Strict regulated (allow needs approval or an attestation)"
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


def new_replay_id() -> str:
    return f"rpl_{secrets.token_hex(10)}"


class PolicyReplay(TenantOwned):
    """A shadow replay: a candidate policy evaluated over stored decisions; its stored result is what plans show."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    public_id = models.CharField(max_length=40, unique=True, default=new_replay_id, editable=False)
    version = models.ForeignKey(
        PolicyVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="replays"
    )
    candidate_label = models.CharField(max_length=300, help_text="What was replayed, e.g. 'baseline 1.1.0'.")
    candidate_digest = models.CharField(max_length=64, db_index=True)
    candidate_compiled_json = models.TextField(help_text="The exact compiled policy replayed.")
    since = models.DateTimeField()
    until = models.DateTimeField()
    repository = models.CharField(max_length=300, blank=True)
    environment = models.CharField(max_length=100, blank=True)
    pack_filter = models.CharField(
        max_length=120, blank=True, help_text="Only decisions made under this pack."
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    matrix = models.JSONField(default=dict, blank=True)
    changed_count = models.PositiveIntegerField(default=0)
    changed = models.JSONField(default=list, blank=True, help_text="Changed decisions (the first 5,000).")
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.public_id} {self.candidate_label} [{self.status}]"

    @property
    def percent(self) -> int:
        return 100 if not self.total else min(100, int(self.processed * 100 / self.total))


def new_draft_id() -> str:
    return f"pdr_{secrets.token_hex(10)}"


def new_plan_id() -> str:
    return f"ppl_{secrets.token_hex(10)}"


def new_policy_key_id() -> str:
    return f"psk_{secrets.token_hex(8)}"


class PolicyDraft(TenantOwned):
    """An editable pack source (never in force): edited in the browser or uploaded, published only via a plan."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        PUBLISH_REQUESTED = "publish_requested", "Publish requested"
        PUBLISHED = "published", "Published"

    public_id = models.CharField(max_length=40, unique=True, default=new_draft_id, editable=False)
    base_version = models.ForeignKey(
        PolicyVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="drafts"
    )
    pack_id = models.CharField(max_length=120, blank=True, help_text="metadata.id as last validated")
    source_text = models.TextField()
    digest = models.CharField(max_length=64, blank=True, help_text="Compiled digest; empty while invalid.")
    errors = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    published_version = models.ForeignKey(
        PolicyVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return f"{self.public_id} {self.pack_id or '(invalid)'}"


class PublishPlan(TenantOwned):
    """What publishing a draft's exact digest would do: diff, tests, canaries, replay, risk class."""

    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        REQUESTED = "requested", "Publish requested"
        PUBLISHED = "published", "Published"
        REFUSED = "refused", "Refused"

    public_id = models.CharField(max_length=40, unique=True, default=new_plan_id, editable=False)
    draft = models.ForeignKey(PolicyDraft, on_delete=models.CASCADE, related_name="plans")
    draft_digest = models.CharField(max_length=64)
    against = models.ForeignKey(
        PolicyVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    risk = models.CharField(max_length=20)
    reasons = models.JSONField(default=list, blank=True)
    diff = models.JSONField(default=dict, blank=True)
    tests = models.JSONField(default=list, blank=True)
    tests_failed = models.PositiveIntegerField(default=0)
    canaries = models.JSONField(default=list, blank=True)
    replay = models.ForeignKey(
        PolicyReplay, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PLANNED)
    approval_ref = models.CharField(max_length=40, blank=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.public_id} [{self.risk}]"


class PolicySigningKey(TenantOwned):
    """A tenant's Ed25519 policy-signing key (separate from the evidence key); rotation retires the old one."""

    key_id = models.CharField(max_length=40, unique=True, default=new_policy_key_id)
    public_key = models.CharField(max_length=64, help_text="Raw Ed25519 public key, hex.")
    private_key_encrypted = models.TextField(
        help_text="base64(nonce || AES-256-GCM ciphertext); never shown."
    )
    valid_from = models.DateTimeField(default=timezone.now)
    valid_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-valid_from", "-id"]

    def __str__(self) -> str:
        return self.key_id


def new_rollout_plan_id() -> str:
    return f"rcp_{secrets.token_hex(10)}"


class RolloutChangePlan(TenantOwned):
    """A proposed change to what one scope runs (pack, version, mode, or removal), with its risk and replay."""

    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        PENDING_APPROVAL = "pending_approval", "Waiting for approval"
        APPLIED = "applied", "Applied"
        REFUSED = "refused", "Refused"

    public_id = models.CharField(max_length=40, unique=True, default=new_rollout_plan_id, editable=False)
    repository = models.CharField(max_length=300, blank=True)
    environment = models.CharField(max_length=100, blank=True)
    scope_label = models.CharField(max_length=500)
    before = models.JSONField(null=True, blank=True, help_text="The scope's own rollout before (null: none).")
    after = models.JSONField(
        null=True, blank=True, help_text="The scope's own rollout after (null: removed)."
    )
    effective_before = models.JSONField(null=True, blank=True, help_text="What decided for the scope before.")
    effective_after = models.JSONField(null=True, blank=True, help_text="What decides for the scope after.")
    version = models.ForeignKey(
        PolicyVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    mode = models.CharField(max_length=20, blank=True)
    risk = models.CharField(max_length=20)
    reasons = models.JSONField(default=list, blank=True)
    canaries = models.JSONField(default=list, blank=True)
    replay = models.ForeignKey(
        PolicyReplay, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PLANNED)
    approval_ref = models.CharField(max_length=40, blank=True)
    acknowledged = models.CharField(max_length=200, blank=True)
    rollback_of = models.CharField(max_length=40, blank=True, help_text="The applied plan this one undoes.")
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.public_id} {self.scope_label} [{self.risk}]"

    @property
    def acknowledgement_phrase(self) -> str:
        return f"loosen {self.scope_label}"


class TenantCanaries(TenantOwned):
    """The tenant's own safety canaries, checked in every plan in addition to the shipped list."""

    source_text = models.TextField(
        blank=True, help_text="YAML list of canaries (id, title, action, target, ...)."
    )
    items = models.JSONField(default=list, blank=True)
    updated_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)
    # A loosening change (a canary disabled, overridden or removed) waits here for its approval.
    pending_source_text = models.TextField(blank=True)
    pending_items = models.JSONField(default=list, blank=True)
    pending_reasons = models.JSONField(default=list, blank=True)
    pending_approval_ref = models.CharField(max_length=40, blank=True)
    pending_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="tenantcanaries_one_per_tenant")]
        verbose_name_plural = "tenant canaries"
