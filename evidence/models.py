"""The evidence chain (records, head, checkpoints, signing keys), retention, verification runs and activity."""

from __future__ import annotations

import secrets

from django.db import models
from django.utils import timezone

from core.models import TenantOwned
from tenants.models import User

DEFAULT_RETENTION_DAYS = 2557  # 7 years


def public_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def new_record_id() -> str:
    return public_id("evd")


def new_session_id() -> str:
    return public_id("ses")


def new_decision_id() -> str:
    return public_id("dec")


class ChainHead(TenantOwned):
    """One row per tenant: the lock every append takes, the last seq and hash, and the purge gate."""

    tenant_label = models.CharField(
        max_length=50, help_text="The tenant name written into every record (its slug at chain start)."
    )
    seq = models.BigIntegerField(default=0)
    head_hash = models.CharField(max_length=64, default="0" * 64)
    purged_through = models.BigIntegerField(
        default=0, help_text="Records up to this seq were purged by retention."
    )
    purging = models.BooleanField(
        default=False, help_text="Open only inside the retention purge transaction."
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="evidence_chainhead_one_per_tenant")]

    def __str__(self) -> str:
        return f"{self.tenant_label} @ {self.seq}"


class EvidenceRecord(TenantOwned):
    """One link of a tenant's hash chain. Append-only: database triggers refuse UPDATE and DELETE."""

    public_id = models.CharField(max_length=40, unique=True, default=new_record_id, editable=False)
    seq = models.BigIntegerField()
    kind = models.CharField(max_length=100)
    subject = models.CharField(max_length=300, blank=True)
    payload = models.JSONField(default=dict)
    actor = models.CharField(max_length=300, null=True, blank=True)
    created_at = models.DateTimeField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    # Copied out of the payload at append time so the explorer, exports and SIEM can filter by index.
    session_ref = models.CharField(max_length=64, blank=True, default="")
    agent_ref = models.CharField(max_length=64, blank=True, default="")
    repository = models.CharField(max_length=300, blank=True, default="")
    decision = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        ordering = ["-seq"]
        constraints = [models.UniqueConstraint(fields=["tenant", "seq"], name="evidence_record_unique_seq")]
        indexes = [
            models.Index(fields=["tenant", "created_at"], name="evd_tenant_created"),
            models.Index(fields=["tenant", "kind", "seq"], name="evd_tenant_kind"),
            models.Index(fields=["tenant", "session_ref", "seq"], name="evd_tenant_session"),
            models.Index(fields=["tenant", "agent_ref", "seq"], name="evd_tenant_agent"),
            models.Index(fields=["tenant", "repository", "seq"], name="evd_tenant_repo"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.kind} {self.subject}"


class EvidenceLeaf(TenantOwned):
    """A fact committed with its cause but not yet in the chain: the sequencer integrates it, then deletes it.

    The request's transaction writes only this row (no chain lock); `public_id` becomes the record's id
    and `leaf_hash` is what the writer can tell its caller at once (docs/evidence-format.md, "Leaves").
    """

    public_id = models.CharField(max_length=40, unique=True, default=new_record_id, editable=False)
    kind = models.CharField(max_length=100)
    subject = models.CharField(max_length=300, blank=True)
    payload = models.JSONField(default=dict)
    actor = models.CharField(max_length=300, null=True, blank=True)
    created_at = models.DateTimeField()
    leaf_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["tenant", "id"], name="evd_leaf_tenant_id")]

    def __str__(self) -> str:
        return f"leaf {self.public_id} {self.kind}"


class SigningKey(TenantOwned):
    """A tenant's Ed25519 key. The private half is AES-GCM encrypted under a key derived from settings."""

    key_id = models.CharField(max_length=40, unique=True)
    public_key = models.CharField(max_length=64, help_text="Raw Ed25519 public key, hex.")
    fingerprint = models.CharField(max_length=64)
    private_key_encrypted = models.TextField(
        help_text="base64(nonce || AES-256-GCM ciphertext); never shown."
    )
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-valid_from"]

    def __str__(self) -> str:
        return self.key_id

    @property
    def is_current(self) -> bool:
        return self.valid_until is None


class Checkpoint(TenantOwned):
    """A signed statement: tenant's chain had this head hash at this seq at this time."""

    class Reason(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        ON_DEMAND = "on_demand", "On demand"
        EXPORT = "export", "Bundle export"
        RETENTION_CUT = "retention_cut", "Retention cut"

    seq = models.BigIntegerField()
    head_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    key = models.ForeignKey(SigningKey, on_delete=models.PROTECT, related_name="checkpoints")
    signature = models.CharField(max_length=128)
    reason = models.CharField(max_length=20, choices=Reason.choices, default=Reason.SCHEDULED)
    root_hash = models.CharField(
        max_length=64, blank=True, default="",
        help_text="RFC 9162 Merkle root of records 1..seq; empty for v1 checkpoints made before the tree.",
    )  # fmt: skip

    class Meta:
        ordering = ["-seq"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "seq"], name="evidence_checkpoint_unique_seq")
        ]

    def __str__(self) -> str:
        return f"checkpoint #{self.seq}"


class MerkleTree(TenantOwned):
    """A tenant's RFC 9162 tree over its record hashes: its size and frontier (compact range [0, size))."""

    size = models.BigIntegerField(default=0)
    frontier = models.JSONField(default=list, help_text="Perfect-subtree hashes, largest first, hex.")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="evidence_merkletree_one_per_tenant")]

    def __str__(self) -> str:
        return f"tree of {self.size}"


class MerkleNode(TenantOwned):
    """One perfect subtree: leaves index*2^level .. (index+1)*2^level - 1 (0-based), kept for proofs."""

    level = models.PositiveSmallIntegerField()
    index = models.BigIntegerField()
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "level", "index"], name="evidence_merklenode_unique")
        ]

    def __str__(self) -> str:
        return f"node {self.level}/{self.index}"


class WitnessPublication(TenantOwned):
    """One signed tree head sent to one witness (EVIDENCE_WITNESSES) through the outbox, and its answer."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PUBLISHED = "published", "Countersigned"
        SUPERSEDED = "superseded", "Superseded (the witness already holds a later head)"
        REFUSED = "refused", "Refused (the head does not extend what the witness saw)"
        FAILED = "failed", "Failed (retries exhausted)"

    checkpoint = models.ForeignKey(Checkpoint, on_delete=models.CASCADE, related_name="publications")
    witness_url = models.CharField(max_length=300)
    witness_key_id = models.CharField(max_length=40)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    cosignature = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["checkpoint", "witness_key_id"], name="evidence_witnesspub_unique"
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "witness_key_id", "created_at"], name="wpub_tenant_witness")
        ]

    def __str__(self) -> str:
        return f"head #{self.checkpoint_id} -> {self.witness_key_id} ({self.status})"


class RetentionPolicy(TenantOwned):
    """How long a tenant keeps evidence, and whether a legal hold blocks every purge."""

    retention_days = models.PositiveIntegerField(default=DEFAULT_RETENTION_DAYS)
    legal_hold = models.BooleanField(default=False)
    legal_hold_reason = models.TextField(blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="evidence_retention_one_per_tenant")]
        verbose_name_plural = "retention policies"

    def __str__(self) -> str:
        return f"{self.retention_days} days{' (legal hold)' if self.legal_hold else ''}"


class VerificationRun(TenantOwned):
    """The result of re-walking a tenant's chain (or a range of it)."""

    class Trigger(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        ON_DEMAND = "on_demand", "On demand"

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    first_seq = models.BigIntegerField(null=True, blank=True)
    last_seq = models.BigIntegerField(null=True, blank=True)
    records_checked = models.BigIntegerField(default=0)
    checkpoints_checked = models.IntegerField(default=0)
    ok = models.BooleanField(default=False)
    summary = models.TextField(
        blank=True, help_text="The first problem, or a one-line all-clear, in plain words."
    )
    problems = models.JSONField(default=list, blank=True)
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.SCHEDULED)
    requested_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"verification {self.started_at:%Y-%m-%d %H:%M} {'ok' if self.ok else 'FAILED'}"


class AgentSession(TenantOwned):
    """One working session of an agent (a CI job, an interactive coding session)."""

    public_id = models.CharField(max_length=40, unique=True, default=new_session_id, editable=False)
    agent_ref = models.CharField(
        max_length=64, blank=True, help_text="The agent's public id (agt_…) once the registry knows it."
    )
    agent_name = models.CharField(max_length=200, blank=True)
    repository = models.CharField(max_length=300, blank=True)
    environment = models.CharField(max_length=100, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["tenant", "agent_ref", "started_at"], name="ses_tenant_agent")]

    def __str__(self) -> str:
        return self.public_id


class Decision(TenantOwned):
    """The searchable record of one runtime decision; its proof is the linked evidence record."""

    class Verdict(models.TextChoices):
        ALLOW = "allow", "Allow"
        BLOCK = "block", "Block"
        REQUIRE_APPROVAL = "require_approval", "Require approval"

    public_id = models.CharField(max_length=40, unique=True, default=new_decision_id, editable=False)
    session = models.ForeignKey(
        AgentSession, null=True, blank=True, on_delete=models.SET_NULL, related_name="decisions"
    )
    agent_ref = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=40)
    target = models.TextField()
    repository = models.CharField(max_length=300, blank=True)
    environment = models.CharField(max_length=100, blank=True)
    decision = models.CharField(max_length=20, choices=Verdict.choices)
    rule_id = models.CharField(max_length=200, blank=True)
    severity = models.CharField(max_length=20, blank=True)
    reason = models.TextField(blank=True)
    policy_pack = models.CharField(max_length=200, blank=True)
    policy_version = models.CharField(max_length=50, blank=True)
    policy_digest = models.CharField(max_length=80, blank=True)
    policy_mode = models.CharField(max_length=20, blank=True)
    context = models.JSONField(default=dict, blank=True)
    # The deciding rule's control ids, {framework: [control id, ...]}, as the compiled policy mapped them.
    compliance = models.JSONField(default=dict, blank=True)
    # One of cavra_engine.surfaces.SURFACES, classified when the decision is made.
    surface = models.CharField(max_length=30, blank=True, default="")
    evidence = models.OneToOneField(
        EvidenceRecord, null=True, blank=True, on_delete=models.SET_NULL, related_name="decision_row"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "created_at"], name="dec_tenant_created"),
            models.Index(fields=["tenant", "agent_ref", "created_at"], name="dec_tenant_agent"),
            models.Index(fields=["tenant", "decision", "created_at"], name="dec_tenant_verdict"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.decision} {self.action}"
