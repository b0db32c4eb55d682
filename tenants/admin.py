"""Admin for tenants, members, IdP mappings, SSO providers, personal API tokens and the audit trail."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import ValidationError
from django.db import transaction

from core.admin import ReadOnlyTenantScopedAdmin, TenantScopedAdmin, TenantSelfAdmin
from core.secrets import secret_encrypt
from tenants.forms import RolesField
from tenants.models import AuditEntry, Membership, PersonalAccessToken, RoleMapping, SsoProvider, Tenant, User
from tenants.services import membership_add, membership_remove, membership_set_roles
from tenants.sso import sso_provider_app_remove, sso_provider_sync
from tenants.tokens import personal_token_revoke


@admin.register(Tenant)
class TenantAdmin(TenantSelfAdmin):
    list_display = ("slug", "name", "edition", "entitlement_status", "entitlement_expires_at")
    search_fields = ("slug", "name")


class MembershipAdminForm(forms.ModelForm):
    roles = RolesField()  # not a column: roles live in guardian grants, written by the tenants services

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial.setdefault("roles", self.instance.roles)

    class Meta:
        model = Membership
        fields = ("tenant", "user", "roles")


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    form = MembershipAdminForm
    list_display = ("user", "tenant", "role_list", "deactivated_at")
    list_select_related = ("user", "tenant")
    search_fields = ("user__email",)
    list_filter = ("tenant",)

    @admin.display(description="Roles")
    def role_list(self, obj):
        return ", ".join(obj.role_labels())

    def get_readonly_fields(self, request, obj=None):
        # Deactivation goes through the members page or API (tenants.members), not this form.
        return ("tenant", "user", "deactivated_at") if obj is not None else ()

    def save_form(self, request, form, change):
        return form.save(commit=False)

    def save_model(self, request, obj, form, change):
        # Membership writes go through the services so guardian grants and the audit trail stay in step.
        try:
            if change:
                membership_set_roles(membership=obj, roles=form.cleaned_data["roles"], actor=request.user)
            else:
                tenant = obj.tenant if request.user.is_superuser else request.tenant
                created = membership_add(
                    tenant=tenant, user=obj.user, roles=form.cleaned_data["roles"], actor=request.user
                )
                obj.pk = created.pk
        except ValidationError as exc:
            # Only a race with another admin gets here (the form already ran the same checks).
            self.message_user(request, "; ".join(exc.messages), level="error")

    def delete_model(self, request, obj):
        membership_remove(membership=obj, actor=request.user)

    def get_form(self, request, obj=None, **kwargs):
        form_class = super().get_form(request, obj, **kwargs)

        class Checked(form_class):
            def clean(self):
                data = super().clean()
                roles = data.get("roles") or []
                # Dry-run the service rules so errors show next to the field instead of a 500.
                if obj is not None and "tenant_admin" in obj.roles and "tenant_admin" not in roles:
                    others = Membership.objects.filter(tenant=obj.tenant).exclude(pk=obj.pk)
                    if not any("tenant_admin" in m.roles for m in others):
                        self.add_error("roles", "A tenant must keep at least one tenant admin.")
                if obj is None and data.get("user") is not None:
                    tenant = data.get("tenant") if request.user.is_superuser else request.tenant
                    if tenant and Membership.objects.filter(tenant=tenant, user=data["user"]).exists():
                        self.add_error("user", f"{data['user']} is already a member of {tenant}.")
                return data

        return Checked

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            try:
                membership_remove(membership=obj, actor=request.user)
            except ValidationError as exc:
                self.message_user(request, f"{obj}: {'; '.join(exc.messages)}", level="error")


@admin.register(RoleMapping)
class RoleMappingAdmin(TenantScopedAdmin):
    list_display = ("idp_group", "role", "tenant")
    list_filter = ("tenant", "role")


class SsoProviderAdminForm(forms.ModelForm):
    # Not a column: the secret is stored only as a Fernet token (core.secrets), never shown back.
    client_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the stored secret.",
    )

    class Meta:
        model = SsoProvider
        fields = [
            "tenant",
            "name",
            "issuer_url",
            "client_id",
            "scopes",
            "groups_claim",
            "email_domains",
            "provider_id",
            "jit_provisioning",
            "enabled",
            "enforce_sso",
            "break_glass_user",
        ]


@admin.register(SsoProvider)
class SsoProviderAdmin(TenantScopedAdmin):
    """Kept for platform operators; tenant admins use the SSO page (tenants.sso_views)."""

    form = SsoProviderAdminForm
    list_display = ("name", "provider_id", "issuer_url", "enabled", "enforce_sso", "tenant")
    list_filter = ("tenant",)
    readonly_fields = ("redirect_uri",)

    @admin.display(description="redirect URI to register at the identity provider")
    def redirect_uri(self, obj):
        return obj.callback_path or "(shown once the sign-in id is set)"

    def save_model(self, request, obj, form, change):
        secret = form.cleaned_data.get("client_secret")
        if secret:
            obj.client_secret_encrypted = secret_encrypt(secret)
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            sso_provider_sync(provider=obj, actor=request.user)

    def delete_model(self, request, obj):
        with transaction.atomic():
            super().delete_model(request, obj)
            sso_provider_app_remove(provider=obj)


@admin.register(PersonalAccessToken)
class PersonalAccessTokenAdmin(TenantScopedAdmin):
    """Tokens are created by their owner on the API tokens page (the plaintext exists only there);
    here an admin can find them, rename them and revoke them, never add or delete one."""

    list_display = (
        "name",
        "prefix",
        "user",
        "tenant",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    )
    list_select_related = ("user", "tenant")
    list_filter = ("tenant",)
    search_fields = ("name", "prefix", "user__email")
    readonly_fields = (
        "public_id",
        "user",
        "prefix",
        "token_hash",
        "created_at",
        "expires_at",
        "revoked_at",
        "revoked_by",
        "last_used_at",
    )
    fields = ("name", *readonly_fields)
    actions = ["revoke_selected"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke selected tokens")
    def revoke_selected(self, request, queryset):
        for token in queryset:
            personal_token_revoke(token=token, actor=request.user)
        self.message_user(request, f"Revoked {queryset.count()} token(s); they stop working immediately.")


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyTenantScopedAdmin):
    list_display = ("created_at", "actor_label", "action", "object_type", "object_repr", "tenant")
    list_filter = ("tenant", "action")
    search_fields = ("actor_label", "object_repr", "action")


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    """People are global; only platform superusers manage accounts here."""

    ordering = ("email",)
    list_display = ("email", "full_name", "is_active", "is_superuser", "last_login")
    search_fields = ("email", "full_name")
    fieldsets = (
        (None, {"fields": ("email", "password", "full_name")}),
        ("Status", {"fields": ("is_active", "is_staff", "is_superuser")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser
