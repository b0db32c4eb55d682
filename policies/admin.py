"""Admin for packs, versions (read-only: versions are immutable), repositories, environments, rollouts."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html

from core.admin import TenantScopedAdmin
from policies.models import Environment, PolicyPack, PolicyVersion, Repository, Rollout, RolloutChange
from policies.services import tenant_policy_changed
from policies.services.rollout_plans import rollout_change_request


class PolicyScopeAdmin(TenantScopedAdmin):
    """Edits here change which policy applies where: invalidate the decision path's rollout cache."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        tenant_policy_changed(tenant=obj.tenant)

    def delete_model(self, request, obj):
        tenant = obj.tenant
        super().delete_model(request, obj)
        tenant_policy_changed(tenant=tenant)


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
class RepositoryAdmin(PolicyScopeAdmin):
    list_display = ("name", "description", "tenant")
    list_filter = ("tenant",)
    search_fields = ("name",)
    filter_horizontal = ("owners",)


@admin.register(Environment)
class EnvironmentAdmin(PolicyScopeAdmin):
    list_display = ("name", "is_production", "tenant")
    list_filter = ("tenant",)


@admin.register(Rollout)
class RolloutAdmin(TenantScopedAdmin):
    """Saves and deletes go through a change plan, exactly as the policies page does: applied at once
    (RolloutChange, evidence, the decision path's cache dropped) unless the change loosens the policy,
    which then waits on its plan page for acknowledgement and approval."""

    list_display = ("__str__", "mode", "updated_at", "tenant")
    list_filter = ("tenant", "mode")
    readonly_fields = ("public_id",)

    def get_fields(self, request, obj=None):
        fields = ["public_id", "version", "repository", "environment", "mode"]
        return ["tenant", *fields] if self._is_super(request) else fields

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields += ["repository", "environment"]  # the scope is what a rollout is; set another one instead
        return fields

    def save_model(self, request, obj, form, change):
        tenant = obj.tenant if change or self._is_super(request) else request.tenant
        self._request_change(
            request,
            obj,
            tenant=tenant,
            version=obj.version,
            mode=obj.mode,
            repository=obj.repository.name if obj.repository_id else "",
            environment=obj.environment.name if obj.environment_id else "",
        )

    def delete_model(self, request, obj):
        self._request_change(
            request,
            obj,
            tenant=obj.tenant,
            version=None,
            repository=obj.repository.name if obj.repository_id else "",
            environment=obj.environment.name if obj.environment_id else "",
            remove=True,
        )

    def delete_queryset(self, request, queryset):
        for rollout in queryset:
            self.delete_model(request, rollout)

    def _request_change(self, request, obj, *, tenant, **change) -> None:
        """The same change plan as the policies page: applied unless it loosens, which needs the plan page."""
        try:
            plan = rollout_change_request(tenant=tenant, actor=request.user, **change)
        except ValidationError as exc:
            self.message_user(request, "; ".join(exc.messages), level=messages.ERROR)
            return
        if plan.status != plan.Status.APPLIED:
            url = reverse("policies:rollout-plan", kwargs={"public_id": plan.public_id})
            self.message_user(
                request,
                format_html(
                    "Not applied: this change loosens the policy. Review it, acknowledge and request approval "
                    'on <a href="{}">its change plan</a>.',
                    url,
                ),
                level=messages.WARNING,
            )
            return
        repository, environment = change["repository"], change["environment"]
        saved = Rollout.objects.filter(
            Q(repository__name=repository) if repository else Q(repository__isnull=True),
            Q(environment__name=environment) if environment else Q(environment__isnull=True),
            tenant=tenant,
        ).first()
        if saved is not None:
            obj.pk, obj.public_id, obj.tenant = saved.pk, saved.public_id, saved.tenant


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
