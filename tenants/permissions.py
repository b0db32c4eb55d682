"""The one place that answers "may this user do this in this tenant?" for admin, pages and API."""

from __future__ import annotations

from django.contrib.auth.mixins import AccessMixin
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404
from guardian.shortcuts import get_perms
from rest_framework.permissions import BasePermission

from core.roles import ALL_ROLES, Role, role_permission
from tenants.models import Tenant

_CACHE_ATTR = "_cavra_role_cache"


def roles_of(user, tenant: Tenant | None) -> frozenset[str]:
    """The roles a user holds in a tenant, read from guardian grants; cached on the user object."""
    if tenant is None or user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    cache = getattr(user, _CACHE_ATTR, None)
    if cache is None:
        cache = {}
        setattr(user, _CACHE_ATTR, cache)
    if tenant.pk not in cache:
        perms = set(get_perms(user, tenant))
        cache[tenant.pk] = frozenset(r for r in ALL_ROLES if role_permission(r) in perms)
    return cache[tenant.pk]


def forget_roles(user) -> None:
    """Drop the per-request role cache after grants change."""
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def has_role(user, tenant: Tenant | None, *roles: str) -> bool:
    """True when the user holds any of `roles` in `tenant` (no roles given: any membership role)."""
    held = roles_of(user, tenant)
    return bool(held & set(roles)) if roles else bool(held)


def is_member(user, tenant: Tenant | None) -> bool:
    if tenant is None or not getattr(user, "is_authenticated", False):
        return False
    from tenants.models import Membership

    return Membership.objects.filter(tenant=tenant, user=user).exists()


def can_manage_members(user, tenant: Tenant | None) -> bool:
    return has_role(user, tenant, Role.TENANT_ADMIN)


def get_for_tenant_or_404(queryset: QuerySet, tenant: Tenant | None, **lookup) -> Model:
    """Find and may-see in one: another tenant's object is exactly as absent as a missing one."""
    if tenant is None:
        raise Http404("No tenant selected.")
    missing = Http404(f"No {queryset.model._meta.verbose_name} matches the given query.")
    # No stored id holds a NUL: PostgreSQL refuses one even in a lookup, which would be a 500.
    if any(isinstance(value, str) and "\x00" in value for value in lookup.values()):
        raise missing
    try:
        return queryset.get(tenant=tenant, **lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise missing


class TenantRoleRequiredMixin(AccessMixin):
    """Page views: login redirect when anonymous, 404 without a tenant, 403 without a listed role."""

    required_roles: tuple[str, ...] = ()

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if getattr(request, "tenant", None) is None:
            raise Http404("You are not a member of any tenant.")
        if not has_role(request.user, request.tenant, *self.required_roles):
            raise PermissionDenied("Your role in this tenant does not allow this page.")
        return super().dispatch(request, *args, **kwargs)


class HasTenantRole(BasePermission):
    """DRF: the authenticated user must hold one of the view's `required_roles` in request.tenant."""

    message = "Your role in this tenant does not allow this action."

    def has_permission(self, request, view) -> bool:
        tenant = getattr(request, "tenant", None) or getattr(request._request, "tenant", None)
        if tenant is None:
            return False
        roles = getattr(view, "required_roles", ())
        if request.method in ("GET", "HEAD", "OPTIONS"):
            roles = getattr(view, "read_roles", roles)
        return has_role(request.user, tenant, *roles)
