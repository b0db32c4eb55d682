"""Writes for tenants and memberships: each is atomic, keeps guardian grants in step and is audited."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.db import transaction
from guardian.shortcuts import assign_perm, remove_perm

from core.audit import model_snapshot
from core.authz import authorize_actor, forget_roles
from core.roles import ALL_ROLES, Role, parse_roles, role_permission
from tenants.audit import record_audit
from tenants.mfa import mfa_grant_check
from tenants.models import SLUG_VALIDATOR, Membership, Tenant, User
from tenants.selectors import members_with_role


def _validated_roles(roles, *, field: str = "roles") -> list[str]:
    try:
        parsed = parse_roles(roles)
    except ValueError as exc:
        raise ValidationError({field: str(exc)})
    if not parsed:
        raise ValidationError({field: "Choose at least one role."})
    return parsed


def _grant_roles(membership: Membership, roles: list[str]) -> None:
    """Make the user's guardian grants on the tenant (the one store of roles) equal `roles`, nothing more."""
    for role in ALL_ROLES:
        perm = f"tenants.{role_permission(role)}"
        if role in roles:
            assign_perm(perm, membership.user, membership.tenant)
        else:
            remove_perm(perm, membership.user, membership.tenant)
    forget_roles(membership.user)


def _lock_memberships(tenant: Tenant) -> list[Membership]:
    # Locking every membership row of the tenant serialises concurrent role edits, so two admins
    # demoting each other at once cannot leave the tenant with no admin.
    return list(Membership.objects.select_for_update().filter(tenant=tenant).order_by("pk"))


def _admin_count(tenant: Tenant, *, excluding: Membership | None = None) -> int:
    admins = members_with_role(tenant=tenant, role=Role.TENANT_ADMIN)
    return sum(1 for m in admins if excluding is None or m.pk != excluding.pk)


# Higher apps register what a new tenant starts with (policies: the default rollout) in AppConfig.ready();
# each runs inside tenant_create's transaction, so a tenant never exists half set up.
_tenant_created_handlers: list[Callable[..., None]] = []


def register_tenant_created(handler: Callable[..., None]) -> None:
    """`handler(tenant=..., actor=...)` runs in the transaction that creates every new tenant."""
    if handler not in _tenant_created_handlers:
        _tenant_created_handlers.append(handler)


def tenant_create(
    *, slug: str, name: str, actor: User | None = None, starter_setup: bool = True, **fields
) -> Tenant:
    """A new tenant; `starter_setup=False` skips what higher apps add (tests that build their own setup)."""
    slug = (slug or "").strip()
    try:
        SLUG_VALIDATOR(slug)
    except ValidationError as exc:
        raise ValidationError({"slug": exc.messages})
    if Tenant.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": f"A tenant with slug {slug!r} already exists."})
    if not (name or "").strip():
        raise ValidationError({"name": "A display name is required."})
    with transaction.atomic():
        tenant = Tenant(slug=slug, name=name.strip(), **fields)
        tenant.full_clean()
        tenant.save()
        record_audit(
            tenant=tenant, actor=actor, action="tenant.create", obj=tenant, after=model_snapshot(tenant)
        )
        for handler in _tenant_created_handlers if starter_setup else ():
            handler(tenant=tenant, actor=actor)
    return tenant


def membership_add(
    *, tenant: Tenant, user: User, roles, actor: User | None = None, action: str = "membership.add"
) -> Membership:
    authorize_actor(actor, tenant, "tenants.manage_members")
    parsed = _validated_roles(roles)
    if actor is not None:  # SSO sync (actor None) relies on the IdP's own MFA
        mfa_grant_check(tenant=tenant, user=user, roles=parsed)
    with transaction.atomic():
        if Membership.objects.filter(tenant=tenant, user=user).exists():
            raise ValidationError({"email": f"{user.email} is already a member of {tenant.name}."})
        membership = Membership.objects.create(tenant=tenant, user=user, invited_by=actor)
        _grant_roles(membership, parsed)
        record_audit(
            tenant=tenant,
            actor=actor,
            action=action,
            obj=membership,
            after={"user": user.email, "roles": parsed},
        )
    return membership


def membership_set_roles(*, membership: Membership, roles, actor: User | None) -> Membership:
    authorize_actor(actor, membership.tenant, "tenants.manage_members")
    parsed = _validated_roles(roles)
    with transaction.atomic():
        locked = _lock_memberships(membership.tenant)
        current = next((m for m in locked if m.pk == membership.pk), None)
        if current is None:
            raise ValidationError({"roles": "This membership no longer exists."})
        if current.deactivated_at is not None:
            raise ValidationError({"roles": f"{current.user.email} is deactivated: reactivate them first."})
        if (
            Role.TENANT_ADMIN in current.roles
            and Role.TENANT_ADMIN not in parsed
            and _admin_count(current.tenant, excluding=current) == 0
        ):
            raise ValidationError({"roles": "A tenant must keep at least one tenant admin."})
        before = list(current.roles)
        if before == parsed:
            return current
        if actor is not None:
            mfa_grant_check(
                tenant=current.tenant, user=current.user, roles=[r for r in parsed if r not in before]
            )
        _grant_roles(current, parsed)
        record_audit(
            tenant=current.tenant,
            actor=actor,
            action="membership.roles_change",
            obj=current,
            before={"user": current.user.email, "roles": before},
            after={"user": current.user.email, "roles": parsed},
        )
    return current


def membership_remove(*, membership: Membership, actor: User | None) -> None:
    authorize_actor(actor, membership.tenant, "tenants.manage_members")
    with transaction.atomic():
        locked = _lock_memberships(membership.tenant)
        current = next((m for m in locked if m.pk == membership.pk), None)
        if current is None:
            return
        before = current.roles
        if Role.TENANT_ADMIN in before and _admin_count(current.tenant, excluding=current) == 0:
            raise ValidationError({"membership": "You cannot remove the last tenant admin."})
        _grant_roles(current, [])
        record_audit(
            tenant=current.tenant,
            actor=actor,
            action="membership.remove",
            obj=current,
            before={"user": current.user.email, "roles": before},
        )
        current.delete()


def membership_sync_from_idp(*, tenant: Tenant, user: User, groups: list[str]) -> Membership | None:
    """SSO login: roles are exactly those mapped from the user's IdP groups, re-applied every login."""
    from tenants.models import RoleMapping

    roles = sorted(
        set(RoleMapping.objects.filter(tenant=tenant, idp_group__in=groups).values_list("role", flat=True))
    )
    membership = Membership.objects.filter(tenant=tenant, user=user).first()
    if membership is not None and membership.deactivated_at is not None:
        return None  # a deactivated member stays deactivated whatever the IdP says (tenants.members)
    if not roles:
        if membership is not None:
            membership_remove(membership=membership, actor=None)
        return None
    if membership is None:
        return membership_add(tenant=tenant, user=user, roles=roles, actor=None, action="membership.sso_add")
    return membership_set_roles(membership=membership, roles=roles, actor=None)
