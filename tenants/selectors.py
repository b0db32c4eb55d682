"""Reads for tenants and memberships; every query is scoped to a tenant and its caller."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from guardian.models import UserObjectPermission

from core.authz import can, is_member
from core.roles import role_permission
from tenants.models import (
    AuditEntry,
    Membership,
    RoleMapping,
    SsoProvider,
    Tenant,
    User,
    role_grants_attr,
    tenant_content_type,
)


def memberships_for_user(*, user: User, include_deactivated: bool = False) -> list[Membership]:
    """The user's active memberships (with `include_deactivated`, every one: TenantMiddleware tells a
    session in a tenant that deactivated them from one that never had a tenant)."""
    memberships = Membership.objects.filter(user=user).select_related("tenant").order_by("tenant__slug")
    if not include_deactivated:
        memberships = memberships.filter(deactivated_at=None)
    return list(memberships)


def with_roles(memberships: QuerySet[Membership], tenant: Tenant) -> QuerySet[Membership]:
    """Prefetch each member's role grants on `tenant` (one query for the whole list, not one per row)."""
    grants = UserObjectPermission.objects.filter(
        content_type=tenant_content_type(), object_pk=str(tenant.pk), permission__codename__startswith="role_"
    ).select_related("permission")
    return memberships.prefetch_related(
        Prefetch("user__userobjectpermission_set", queryset=grants, to_attr=role_grants_attr(tenant.pk))
    )


def tenant_members(*, tenant: Tenant, user: User) -> QuerySet[Membership]:
    """Members of a tenant, for any member of it; ordered by e-mail."""
    if not is_member(user, tenant):
        return Membership.objects.none()
    members = (
        Membership.objects.filter(tenant=tenant).select_related("user", "tenant").order_by("user__email")
    )
    return with_roles(members, tenant)


def tenant_member_get(*, tenant: Tenant, user: User, membership_id: int) -> Membership:
    from core.authz import get_for_tenant_or_404

    return get_for_tenant_or_404(tenant_members(tenant=tenant, user=user), tenant, pk=membership_id)


def members_with_role(*, tenant: Tenant, role: str) -> list[Membership]:
    return _members_holding(tenant, [role])


def members_with_capability(*, tenant: Tenant, capability: str) -> list[Membership]:
    """Members holding `capability` through any of their roles (who a notification goes to)."""
    from core.authz import CAPABILITY_ROLES, UnknownCapability

    if capability not in CAPABILITY_ROLES:
        raise UnknownCapability(capability)
    return _members_holding(tenant, CAPABILITY_ROLES[capability])


def _members_holding(tenant: Tenant, roles) -> list[Membership]:
    holders = UserObjectPermission.objects.filter(
        content_type=tenant_content_type(),
        object_pk=str(tenant.pk),
        permission__codename__in=[role_permission(role) for role in roles],
    ).values("user_id")
    return list(
        Membership.objects.filter(tenant=tenant, user_id__in=holders).select_related("user").order_by("pk")
    )


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


def tenant_invitations(*, tenant: Tenant, user: User) -> list:
    """Invitations not yet accepted (pending, expired, revoked in the last 30 days), newest first."""
    from datetime import timedelta

    from django.utils import timezone

    from tenants.models import Invitation

    if not can(user, tenant, "tenants.manage_members"):
        return []
    since = timezone.now() - timedelta(days=30)
    return list(
        Invitation.objects.filter(tenant=tenant, accepted_at=None, created_at__gte=since).select_related(
            "invited_by"
        )
    )


def tenant_invitation_get(*, tenant: Tenant, user: User, public_id: str):
    from core.authz import get_for_tenant_or_404
    from tenants.models import Invitation

    queryset = (
        Invitation.objects.all() if can(user, tenant, "tenants.manage_members") else Invitation.objects.none()
    )
    return get_for_tenant_or_404(queryset, tenant, public_id=public_id)
