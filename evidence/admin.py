"""Read-only admin for the evidence chain: nothing here can change a record, a key or a checkpoint."""

from django.contrib import admin

from core.admin import ReadOnlyTenantScopedAdmin
from evidence.models import (
    AgentSession,
    Checkpoint,
    Decision,
    EvidenceRecord,
    RetentionPolicy,
    SigningKey,
    VerificationRun,
    WitnessPublication,
)


@admin.register(EvidenceRecord)
class EvidenceRecordAdmin(ReadOnlyTenantScopedAdmin):
    list_display = ("seq", "tenant", "kind", "subject", "actor", "created_at")
    list_filter = ("tenant", "kind")
    search_fields = ("public_id", "subject")
    list_select_related = ("tenant",)


@admin.register(Checkpoint)
class CheckpointAdmin(ReadOnlyTenantScopedAdmin):
    list_display = ("seq", "tenant", "created_at", "key", "reason")
    list_select_related = ("tenant", "key")


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnlyTenantScopedAdmin):
    list_display = ("key_id", "tenant", "fingerprint", "valid_from", "valid_until")
    exclude = ("private_key_encrypted",)


@admin.register(VerificationRun)
class VerificationRunAdmin(ReadOnlyTenantScopedAdmin):
    list_display = ("tenant", "started_at", "ok", "summary", "trigger")


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(ReadOnlyTenantScopedAdmin):
    list_display = ("tenant", "retention_days", "legal_hold")


@admin.register(AgentSession)
class AgentSessionAdmin(ReadOnlyTenantScopedAdmin):
    list_display = ("public_id", "tenant", "agent_ref", "repository", "started_at")


@admin.register(Decision)
class DecisionAdmin(ReadOnlyTenantScopedAdmin):
    list_display = ("public_id", "tenant", "decision", "action", "target", "created_at")
    list_filter = ("decision",)


@admin.register(WitnessPublication)
class WitnessPublicationAdmin(ReadOnlyTenantScopedAdmin):
    list_display = ("checkpoint", "tenant", "witness_url", "status", "attempts", "created_at", "finished_at")
    list_filter = ("status",)
    list_select_related = ("tenant", "checkpoint")
