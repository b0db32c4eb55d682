"""Admin for packs, versions (read-only: versions are immutable), repositories, environments, rollouts."""

from django.contrib import admin

from cavra_portal.admin_site import TenantScopedAdmin
from policies.models import Environment, PolicyPack, PolicyVersion, Repository, Rollout, RolloutChange


@admin.register(PolicyPack)
class PolicyPackAdmin(TenantScopedAdmin):
    list_display = ("pack_id", "title", "source", "tenant")
    list_filter = ("tenant", "source")
    readonly_fields = ("public_id",)


@admin.register(PolicyVersion)
class PolicyVersionAdmin(TenantScopedAdmin):
    list_display = ("pack", "version", "digest", "rule_count", "created_at", "tenant")
    list_filter = ("tenant",)
    readonly_fields = [f.name for f in PolicyVersion._meta.fields if f.name != "tenant"]

    def has_add_permission(self, request):
        return False  # versions come from upload or install, validated and compiled by the service

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Repository)
class RepositoryAdmin(TenantScopedAdmin):
    list_display = ("name", "description", "tenant")
    list_filter = ("tenant",)
    search_fields = ("name",)
    filter_horizontal = ("owners",)


@admin.register(Environment)
class EnvironmentAdmin(TenantScopedAdmin):
    list_display = ("name", "is_production", "tenant")
    list_filter = ("tenant",)


@admin.register(Rollout)
class RolloutAdmin(TenantScopedAdmin):
    list_display = ("__str__", "mode", "updated_at", "tenant")
    list_filter = ("tenant", "mode")
    readonly_fields = ("public_id",)


@admin.register(RolloutChange)
class RolloutChangeAdmin(TenantScopedAdmin):
    list_display = ("created_at", "scope", "actor", "tenant")
    list_filter = ("tenant",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
