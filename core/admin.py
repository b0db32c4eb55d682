"""The Django admin, made tenant-aware: superusers see everything, a tenant admin only their tenant.

Admins of models whose changes are domain actions (retiring an agent, a rollout, a member's roles)
override save_model/delete_model to call the app's service, so the admin gives the same result as
the pages and the API; the generic audit below covers plain reference data.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME, get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from core.audit import audit as record_audit
from core.audit import model_snapshot
from core.authz import can
from core.models import OutboxMessage, TenantOwned


def is_tenant_admin(request) -> bool:
    return can(request.user, getattr(request, "tenant", None), "tenants.administer")


class CavraAdminSite(admin.AdminSite):
    site_header = "CAVRA Portal administration"
    site_title = "CAVRA admin"
    index_title = "Administration"

    def has_permission(self, request) -> bool:
        user = request.user
        return user.is_active and (user.is_superuser or is_tenant_admin(request))

    def login(self, request, extra_context=None):
        # One login for the whole portal (allauth: local accounts, MFA, SSO).
        target = request.GET.get(REDIRECT_FIELD_NAME) or reverse("admin:index")
        if request.user.is_authenticated:
            return redirect("home")
        return redirect(f"{reverse('account_login')}?{urlencode({REDIRECT_FIELD_NAME: target})}")


def _tenant_limited_queryset(model, request):
    """What a foreign-key widget may offer a tenant admin: rows of their tenant only."""
    tenant = request.tenant
    if model._meta.label == settings.TENANT_MODEL:
        return model._default_manager.filter(pk=tenant.pk)
    if model is get_user_model():
        return model._default_manager.filter(memberships__tenant=tenant).distinct()
    if issubclass(model, TenantOwned):
        return model._default_manager.filter(tenant=tenant)
    return None


class TenantScopedAdmin(admin.ModelAdmin):
    """Base for every admin of a tenant-owned model: scoping, FK choices, permissions and audit."""

    tenant_field = "tenant"

    def _is_super(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def _allowed(self, request) -> bool:
        return self._is_super(request) or is_tenant_admin(request)

    def has_module_permission(self, request):
        return self._allowed(request)

    def has_view_permission(self, request, obj=None):
        return self._allowed(request) and self._owns(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._allowed(request) and self._owns(request, obj)

    def has_add_permission(self, request):
        return self._allowed(request)

    def has_delete_permission(self, request, obj=None):
        return self._allowed(request) and self._owns(request, obj)

    def _owns(self, request, obj) -> bool:
        if obj is None or self._is_super(request):
            return True
        return getattr(obj, f"{self.tenant_field}_id", None) == request.tenant.pk

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if self._is_super(request):
            return qs
        return qs.filter(**{self.tenant_field: request.tenant})

    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        if not self._is_super(request):
            exclude.append(self.tenant_field)
        return exclude

    def get_list_filter(self, request):
        filters = super().get_list_filter(request)
        if self._is_super(request):
            return filters
        return [f for f in filters if f != self.tenant_field]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if not self._is_super(request):
            limited = _tenant_limited_queryset(db_field.related_model, request)
            if limited is not None:
                kwargs["queryset"] = limited
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if not self._is_super(request):
            limited = _tenant_limited_queryset(db_field.related_model, request)
            if limited is not None:
                kwargs["queryset"] = limited
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if not self._is_super(request) and not change:
            setattr(obj, self.tenant_field, request.tenant)
        before = None
        if change and obj.pk:
            previous = type(obj)._default_manager.filter(pk=obj.pk).first()
            before = model_snapshot(previous)
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            record_audit(
                tenant=getattr(obj, self.tenant_field, None),
                actor=request.user,
                action=f"admin.{'change' if change else 'add'}",
                obj=obj,
                before=before,
                after=model_snapshot(obj),
            )

    def delete_model(self, request, obj):
        with transaction.atomic():
            record_audit(
                tenant=getattr(obj, self.tenant_field, None),
                actor=request.user,
                action="admin.delete",
                obj=obj,
                before=model_snapshot(obj),
            )
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


class ServiceSavedAdmin(TenantScopedAdmin):
    """An admin whose saves go through the app's service. Its form runs the service's own checks
    (`service_check`), so an error shows beside its field instead of surfacing after a save."""

    def service_check(self, *, tenant, form, obj) -> None:
        """Raise the service's ValidationError for the form's cleaned data (obj is None when adding)."""

    def service_tenant(self, request, obj, data=None):
        """The tenant a save acts in: the row's, else the one a superuser chose, else the request's."""
        if obj is not None and obj.pk:
            return getattr(obj, self.tenant_field)
        if self._is_super(request) and (data or {}).get(self.tenant_field):
            return data[self.tenant_field]
        if self._is_super(request) and obj is not None and getattr(obj, f"{self.tenant_field}_id", None):
            return getattr(obj, self.tenant_field)
        return request.tenant

    def get_form(self, request, obj=None, **kwargs):
        form_class = super().get_form(request, obj, **kwargs)
        admin_ = self

        class ServiceChecked(form_class):
            def clean(self):
                data = super().clean()
                tenant = admin_.service_tenant(request, obj, data)
                if not self.errors and tenant is not None:
                    try:
                        admin_.service_check(tenant=tenant, form=self, obj=obj)
                    except ValidationError as exc:
                        for field, errors in exc.message_dict.items():
                            self.add_error(field if field in self.fields else None, errors)
                return data

        return ServiceChecked


class TenantSelfAdmin(TenantScopedAdmin):
    """The Tenant itself: a tenant admin sees and edits their own row, never adds or deletes one."""

    tenant_field = "pk"

    def _owns(self, request, obj) -> bool:
        return obj is None or self._is_super(request) or obj.pk == request.tenant.pk

    def has_add_permission(self, request):
        return self._is_super(request)

    def has_delete_permission(self, request, obj=None):
        return self._is_super(request)

    def get_queryset(self, request):
        qs = admin.ModelAdmin.get_queryset(self, request)
        return qs if self._is_super(request) else qs.filter(pk=request.tenant.pk)

    def get_exclude(self, request, obj=None):
        return admin.ModelAdmin.get_exclude(self, request, obj)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not self._is_super(request):
            # Entitlements are the vendor's to set, not the customer's.
            fields += ["slug", "edition", "entitlement_status", "entitlement_expires_at", "created_at"]
        return fields

    def save_model(self, request, obj, form, change):
        before = model_snapshot(type(obj)._default_manager.filter(pk=obj.pk).first()) if change else None
        with transaction.atomic():
            admin.ModelAdmin.save_model(self, request, obj, form, change)
            record_audit(
                tenant=obj,
                actor=request.user,
                action=f"admin.{'change' if change else 'add'}",
                obj=obj,
                before=before,
                after=model_snapshot(obj),
            )


class ReadOnlyTenantScopedAdmin(TenantScopedAdmin):
    """Rows only services write (requests, outbox messages): the admin shows them, never edits them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyTenantScopedAdmin):
    list_display = ("kind", "idempotency_key", "status", "attempts", "created_at", "sent_at")
    list_filter = ("tenant", "status", "kind")
    exclude = ("payload",)  # message bodies may name people and targets; the row is for delivery status
    readonly_fields = ("kind", "idempotency_key", "status", "attempts", "last_error", "created_at", "sent_at")
