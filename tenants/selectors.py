"""Reads for tenants and memberships; every query is scoped to a tenant and its caller."""

from __future__ import annotations

from django.db.models import QuerySet

from core.authz import can, is_member
from tenants.models import AuditEntry, Membership, RoleMapping, SsoProvider, Tenant, User


def memberships_for_user(*, user: User) -> list[Membership]:
    return list(Membership.objects.filter(user=user).select_related("tenant").order_by("tenant__slug"))


def tenant_members(*, tenant: Tenant, user: User) -> QuerySet[Membership]:
    """Members of a tenant, for any member of it; ordered by e-mail."""
    if not is_member(user, tenant):
        return Membership.objects.none()
    return Membership.objects.filter(tenant=tenant).select_related("user", "tenant").order_by("user__email")


def tenant_member_get(*, tenant: Tenant, user: User, membership_id: int) -> Membership:
    from core.authz import get_for_tenant_or_404

    return get_for_tenant_or_404(tenant_members(tenant=tenant, user=user), tenant, pk=membership_id)


def members_with_role(*, tenant: Tenant, role: str) -> list[Membership]:
    # JSON containment is not portable to SQLite, so filter in Python for the demo database.
    return [m for m in Membership.objects.filter(tenant=tenant).select_related("user") if role in m.roles]


def tenant_sso_providers(*, tenant: Tenant, user: User) -> QuerySet[SsoProvider]:
    if not can(user, tenant, "tenants.manage_members"):
        return SsoProvider.objects.none()
    return SsoProvider.objects.filter(tenant=tenant)


def tenant_role_mappings(*, tenant: Tenant, user: User) -> QuerySet[RoleMapping]:
    if not can(user, tenant, "tenants.manage_members"):
        return RoleMapping.objects.none()
    return RoleMapping.objects.filter(tenant=tenant)


def tenant_audit_entries(*, tenant: Tenant, user: User, limit: int = 50) -> list[AuditEntry]:
    if not can(user, tenant, "tenants.view_audit"):
        return []
    return list(AuditEntry.objects.filter(tenant=tenant).order_by("-created_at", "-id")[:limit])
