"""Admin for packs, versions (read-only: versions are immutable), repositories, environments, rollouts."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html

from core.admin import ReadOnlyTenantScopedAdmin, ServiceSavedAdmin, TenantScopedAdmin
from policies.models import Environment, PolicyPack, PolicyVersion, Repository, Rollout, RolloutChange
from policies.services.rollout_plans import rollout_change_request
from policies.services.scopes import (
    environment_name_clean,
    environment_save,
    policy_scope_delete,
    repository_name_clean,
    repository_save,
)


class PolicyScopeAdmin(ServiceSavedAdmin):
    """Repositories and environments save and delete through policies.services.scopes, as everywhere
    else: checked, audited into evidence, and the decision path's rollout cache dropped. One that a
    rollout still applies to is not deleted (the message names the rollouts)."""

    kind: str  # "repository" | "environment"

    def service_check(self, *, tenant, form, obj) -> None:
        data = form.cleaned_data
        clean = repository_name_clean if self.kind == "repository" else environment_name_clean
        try:
            name = clean(data.get("name"))
        except ValidationError as exc:
            raise ValidationError({"name": exc.messages})
        clash = self.model.objects.filter(tenant=tenant, name=name).exclude(pk=obj.pk if obj else None)
        if clash.exists():
            raise ValidationError({"name": f"The tenant already has {self.kind} {name!r}."})

    def save_model(self, request, obj, form, change):
        data, tenant = (
            form.cleaned_data,
            self.service_tenant(request, obj if change else None, form.cleaned_data),
        )
        existing = obj if change else None
        try:
            if self.kind == "repository":
                saved = repository_save(
                    tenant=tenant,
                    actor=request.user,
                    repository=existing,
                    name=data["name"],
                    description=data.get("description", ""),
                    owners=data.get("owners", ()),
                )
            else:
                saved = environment_save(
                    tenant=tenant,
                    actor=request.user,
                    environment=existing,
                    name=data["name"],
                    is_production=data.get("is_production", False),
                )
        except ValidationError as exc:
            # A race with another writer (the form ran the same checks); nothing was saved.
            self.message_user(request, "; ".join(exc.messages), level=messages.ERROR)
            return
        obj.pk, obj.tenant = saved.pk, saved.tenant

    def save_related(self, request, form, formsets, change):
        pass  # the service saved the owners with the row, in its transaction

    def delete_model(self, request, obj):
        try:
            policy_scope_delete(scope=obj, actor=request.user)
        except ValidationError as exc:
            self.message_user(request, "; ".join(exc.messages), level=messages.ERROR)

    def delete_queryset(self, request, queryset):
        for scope in queryset:
            self.delete_model(request, scope)


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
    kind = "repository"
    list_display = ("name", "description", "tenant")
    list_filter = ("tenant",)
    search_fields = ("name",)
    filter_horizontal = ("owners",)
    readonly_fields = ("created_at",)


@admin.register(Environment)
class EnvironmentAdmin(PolicyScopeAdmin):
    kind = "environment"
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
class RolloutChangeAdmin(ReadOnlyTenantScopedAdmin):
    list_display = ("created_at", "scope", "actor", "tenant")
    list_filter = ("tenant",)
