"""Admin for agents, credentials (hashes never shown, tokens issued only through the pages/API),
workload identities (bound through the API), MCP servers and tools."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from core.admin import ServiceSavedAdmin, TenantScopedAdmin
from registry.models import Agent, AgentCredential, McpServer, McpTool, WorkloadIdentityBinding
from registry.services import (
    agent_changes_validate,
    agent_create,
    agent_credential_revoke,
    agent_update,
    mcp_tool_approve,
    workload_identity_set_enabled,
    workload_identity_unbind,
)
from registry.services.agents import AGENT_FIELDS


@admin.register(Agent)
class AgentAdmin(ServiceSavedAdmin):
    list_display = ("name", "public_id", "tenant", "profile", "status", "risk_tier", "owner", "last_seen_at")
    list_filter = ("tenant", "status", "profile", "risk_tier")
    list_select_related = ("tenant", "owner")
    search_fields = ("name", "public_id", "description")
    readonly_fields = ("public_id", "last_seen_at", "created_at", "updated_at", "created_by")
    # Fields the registry service owns; saving goes through agent_create / agent_update, so retiring
    # revokes every token and is audited into the evidence chain, exactly as from the pages or the API.
    service_fields = AGENT_FIELDS

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.status == Agent.Status.RETIRED:
            # Retiring cannot be undone from a form: a retired agent is shown, not edited.
            fields += [f for f in self.service_fields if f not in fields]
        return fields

    def has_delete_permission(self, request, obj=None):
        return False  # an agent's decisions and evidence point at it: retire it instead

    def service_check(self, *, tenant, form, obj) -> None:
        agent_changes_validate(tenant=tenant, changes=self._changes(form, obj), agent=obj)

    def _changes(self, form, obj) -> dict:
        names = [f for f in self.service_fields if f in form.cleaned_data]
        if obj is not None:
            names = [f for f in names if f in form.changed_data]
        return {name: form.cleaned_data[name] for name in names}

    def save_model(self, request, obj, form, change):
        changes = self._changes(form, obj if change else None)
        try:
            if change:
                saved = agent_update(agent=obj, actor=request.user, **changes)
            else:
                status = changes.pop("status", None)
                saved = agent_create(tenant=self.service_tenant(request, obj), actor=request.user, **changes)
                if status and status != saved.status:
                    saved = agent_update(agent=saved, actor=request.user, status=status)
        except ValidationError as exc:
            # A race with another writer (the form ran the same field checks); nothing was saved.
            self.message_user(request, "; ".join(exc.messages), level=messages.ERROR)
            return
        obj.pk, obj.public_id, obj.status = saved.pk, saved.public_id, saved.status


@admin.register(AgentCredential)
class AgentCredentialAdmin(TenantScopedAdmin):
    list_display = (
        "prefix",
        "public_id",
        "agent",
        "tenant",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    )
    list_filter = ("tenant",)
    list_select_related = ("tenant", "agent")
    search_fields = ("prefix", "public_id", "agent__name")
    fields = (
        "public_id",
        "agent",
        "prefix",
        "label",
        "created_at",
        "created_by",
        "expires_at",
        "revoked_at",
        "revoked_by",
        "last_used_at",
    )
    readonly_fields = fields
    actions = ("revoke_selected",)

    def has_add_permission(self, request):
        # A token must be shown to whoever creates it exactly once: that happens on the agent page or the API.
        return False

    @admin.action(description="Revoke selected tokens")
    def revoke_selected(self, request, queryset):
        for credential in queryset:
            agent_credential_revoke(credential=credential, actor=request.user)
        messages.success(request, f"{queryset.count()} token(s) revoked.")


@admin.register(WorkloadIdentityBinding)
class WorkloadIdentityBindingAdmin(TenantScopedAdmin):
    list_display = (
        "public_id",
        "agent",
        "tenant",
        "issuer",
        "subject",
        "audience",
        "enabled",
        "last_used_at",
    )
    list_filter = ("tenant", "enabled")
    list_select_related = ("tenant", "agent")
    search_fields = ("public_id", "issuer", "subject", "audience", "agent__name")
    fields = (
        "public_id",
        "agent",
        "issuer",
        "audience",
        "jwks_url",
        "subject",
        "required_claims",
        "enabled",
        "last_used_at",
        "created_at",
        "created_by",
        "updated_at",
    )
    readonly_fields = fields
    actions = ("enable_selected", "disable_selected")

    def has_add_permission(self, request):
        # Binding checks URLs, globs and cross-tenant audiences in the service: use the API.
        return False

    def delete_model(self, request, obj):
        workload_identity_unbind(binding=obj, actor=request.user)

    @admin.action(description="Enable selected workload identities")
    def enable_selected(self, request, queryset):
        for binding in queryset:
            workload_identity_set_enabled(binding=binding, actor=request.user, enabled=True)
        messages.success(request, f"{queryset.count()} workload identit(ies) enabled.")

    @admin.action(description="Disable selected workload identities")
    def disable_selected(self, request, queryset):
        for binding in queryset:
            workload_identity_set_enabled(binding=binding, actor=request.user, enabled=False)
        messages.success(request, f"{queryset.count()} workload identit(ies) disabled.")


class McpToolInline(admin.TabularInline):
    model = McpTool
    extra = 0
    fields = ("name", "capability_class", "status", "approved_digest", "observed_digest", "last_observed_at")
    readonly_fields = ("approved_digest", "observed_digest", "last_observed_at", "status")
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(McpServer)
class McpServerAdmin(TenantScopedAdmin):
    list_display = ("server_id", "name", "tenant", "publisher", "transport", "trust_tier", "approval_state")
    list_filter = ("tenant", "trust_tier", "approval_state", "transport")
    list_select_related = ("tenant",)
    search_fields = ("server_id", "name", "publisher", "public_id")
    readonly_fields = ("public_id", "created_at", "updated_at")
    inlines = [McpToolInline]


@admin.register(McpTool)
class McpToolAdmin(TenantScopedAdmin):
    list_display = ("name", "server", "tenant", "capability_class", "status", "last_observed_at")
    list_filter = ("tenant", "status", "capability_class")
    list_select_related = ("tenant", "server")
    search_fields = ("name", "server__server_id", "public_id")
    readonly_fields = (
        "public_id",
        "approved_digest",
        "observed_digest",
        "observed_description",
        "observed_input_schema",
        "approved_at",
        "approved_by",
        "first_seen_at",
        "last_observed_at",
        "changed_at",
        "status",
    )
    actions = ("approve_selected",)

    @admin.action(description="Approve what was last observed")
    def approve_selected(self, request, queryset):
        for tool in queryset:
            mcp_tool_approve(tool=tool, actor=request.user)
        messages.success(request, f"{queryset.count()} tool(s) approved.")
