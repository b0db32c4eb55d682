"""Deactivating and reactivating a member, and what a role change would do (for the members page and API).

Deactivation keeps the membership (who they were, when, invited by whom) but takes every role away:
roles are stored once, as guardian grants, so a member without grants is refused by every page, API
call, token and notification through core.authz with no second check to forget. The roles they held
wait in `Membership.suspended_roles`, read only to grant them again on reactivation.

Sessions: when the person belongs to no other active tenant, every session of theirs ends; otherwise
the sessions currently working in this tenant end and those in their other tenants carry on (they can
no longer switch here). Session rows are deleted at once (database sessions), and TenantMiddleware
signs out at its next request any session that still points at a deactivated membership, so a session
the scan could not see (another session engine, a login racing the deactivation) ends too. The account
stays: a new sign-in lands in another active tenant, or on "no tenant" (where MFA enrolment still works).
"""

from __future__ import annotations

from importlib import import_module

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.authz import ROLE_CAPABILITIES, authorize_actor
from core.roles import Role
from tenants.audit import record_audit
from tenants.mfa import members_with_mfa, mfa_grant_check
from tenants.models import Membership, PersonalAccessToken, SsoProvider, User
from tenants.services import _admin_count, _grant_roles, _lock_memberships
from tenants.tokens import personal_token_revoke

_LABELS = dict(Role.choices)


def _locked(membership: Membership) -> Membership:
    locked = _lock_memberships(membership.tenant)
    current = next((m for m in locked if m.pk == membership.pk), None)
    if current is None:
        raise ValidationError({"membership": "This membership no longer exists."})
    current.tenant = membership.tenant
    return current


def _other_active_tenant_ids(user: User, *, excluding_tenant_id: int) -> set[int]:
    return set(
        Membership.objects.filter(user=user, deactivated_at=None)
        .exclude(tenant_id=excluding_tenant_id)
        .values_list("tenant_id", flat=True)
    )


def end_sessions(*, user: User, tenant_id: int, everywhere: bool) -> int:
    """Delete the user's sessions working in `tenant_id` (all of them when `everywhere`). Database
    sessions carry no user column, so the unexpired ones are decoded: cost grows with the number of
    live sessions, paid only by this rare admin action. Other engines rely on TenantMiddleware."""
    from tenants.middleware import SESSION_KEY

    engine = import_module(settings.SESSION_ENGINE)
    store_class = engine.SessionStore
    if not hasattr(store_class, "get_model_class"):
        return 0
    ended = 0
    model = store_class.get_model_class()
    for key, data in (
        model.objects.filter(expire_date__gt=timezone.now())
        .values_list("session_key", "session_data")
        .iterator()
    ):
        decoded = store_class().decode(data)
        if str(decoded.get("_auth_user_id")) != str(user.pk):
            continue
        if everywhere or decoded.get(SESSION_KEY) in (None, tenant_id):
            store_class(session_key=key).delete()
            ended += 1
    return ended


def _refuse_deactivation(current: Membership, actor: User | None) -> None:
    tenant, user = current.tenant, current.user
    if actor is not None and actor.pk == user.pk:
        raise ValidationError({"membership": "You cannot deactivate yourself; ask another tenant admin."})
    if current.deactivated_at is not None:
        raise ValidationError({"membership": f"{user.email} is already deactivated."})
    if Role.TENANT_ADMIN in current.roles and _admin_count(tenant, excluding=current) == 0:
        raise ValidationError({"membership": "You cannot deactivate the last active tenant admin."})
    # While SSO is required, the break-glass admin is the only password way in when the identity
    # provider fails; deactivating them would lock the tenant out of its own recovery path.
    if SsoProvider.objects.filter(tenant=tenant, enforce_sso=True, break_glass_user=user).exists():
        raise ValidationError(
            {
                "membership": f"{user.email} is the break-glass admin while SSO is required: they are the "
                "only password sign-in left if the identity provider fails. Name another break-glass "
                "admin on the SSO page first."
            }
        )


def membership_deactivate(*, membership: Membership, actor: User | None) -> dict:
    """Take the member's roles away (kept for reactivation), revoke their personal API tokens in this
    tenant through the token service, end their sessions (see the module note). Invitations they sent
    stay as they are. Returns what was done, as audited."""
    tenant = membership.tenant
    authorize_actor(actor, tenant, "tenants.manage_members")
    with transaction.atomic():
        current = _locked(membership)
        _refuse_deactivation(current, actor)
        user = current.user
        roles = list(current.roles)
        revoked = []
        tokens = PersonalAccessToken.objects.filter(tenant=tenant, user=user, revoked_at=None)
        for token in tokens.select_related("user", "tenant"):
            personal_token_revoke(token=token, actor=actor)
            revoked.append(token.public_id)
        _grant_roles(current, [])
        current.deactivated_at, current.deactivated_by = timezone.now(), actor
        current.suspended_roles = roles
        current.save(update_fields=["deactivated_at", "deactivated_by", "suspended_roles"])
        everywhere = not _other_active_tenant_ids(user, excluding_tenant_id=tenant.pk)
        sessions = end_sessions(user=user, tenant_id=tenant.pk, everywhere=everywhere)
        result = {
            "user": user.email,
            "roles": roles,
            "tokens_revoked": revoked,
            "sessions_ended": sessions,
            "sessions_scope": "all" if everywhere else "this tenant",
        }
        record_audit(
            tenant=tenant,
            actor=actor,
            action="membership.deactivate",
            obj=current,
            object_repr=user.email,
            before={"user": user.email, "roles": roles, "active": True},
            after={**result, "active": False},
        )
    membership.deactivated_at, membership.suspended_roles = current.deactivated_at, roles
    return result


def membership_reactivate(*, membership: Membership, actor: User | None) -> Membership:
    """Grant the roles held at deactivation again. A role the tenant requires MFA for is refused while
    the person has no second factor, as for any role grant (they can still sign in and enrol)."""
    tenant = membership.tenant
    authorize_actor(actor, tenant, "tenants.manage_members")
    with transaction.atomic():
        current = _locked(membership)
        user = current.user
        if current.deactivated_at is None:
            raise ValidationError({"membership": f"{user.email} is active."})
        if not user.is_active:
            raise ValidationError({"membership": f"The account of {user.email} is disabled platform-wide."})
        roles = list(current.suspended_roles)
        if not roles:
            raise ValidationError(
                {"membership": f"{user.email} held no role to give back; remove and invite."}
            )
        if actor is not None:
            mfa_grant_check(tenant=tenant, user=user, roles=roles)
        _grant_roles(current, roles)
        current.deactivated_at, current.deactivated_by, current.suspended_roles = None, None, []
        current.save(update_fields=["deactivated_at", "deactivated_by", "suspended_roles"])
        record_audit(
            tenant=tenant,
            actor=actor,
            action="membership.reactivate",
            obj=current,
            object_repr=user.email,
            before={"user": user.email, "active": False},
            after={"user": user.email, "roles": roles, "active": True},
        )
    membership.deactivated_at, membership.suspended_roles = None, []
    return current


def role_change_effect(before, after) -> dict:
    """What a change from roles `before` to `after` does, in capabilities gained and lost (sorted)."""
    had = set().union(*(ROLE_CAPABILITIES[r] for r in before)) if before else set()
    gets = set().union(*(ROLE_CAPABILITIES[r] for r in after)) if after else set()
    return {
        "roles_added": [_LABELS[r] for r in after if r not in before],
        "roles_removed": [_LABELS[r] for r in before if r not in after],
        "gains": sorted(gets - had),
        "loses": sorted(had - gets),
    }


def role_summaries() -> list[tuple[str, str, list[str]]]:
    """(role, label, capabilities) for every role: the members page explains roles with it."""
    return [(value, label, sorted(ROLE_CAPABILITIES[value])) for value, label in Role.choices]


def members_with_status(members, *, tenant) -> list[Membership]:
    """The memberships with `.mfa`/`.mfa_label` (tenants.mfa), `.sso_linked` (signed in through an
    identity provider at least once) and `.is_break_glass`, in three queries for the whole list."""
    from allauth.socialaccount.models import SocialAccount

    members = members_with_mfa(members)
    linked = set(
        SocialAccount.objects.filter(user_id__in=[m.user_id for m in members]).values_list(
            "user_id", flat=True
        )
    )
    glass = set(
        SsoProvider.objects.filter(tenant=tenant, enforce_sso=True).values_list(
            "break_glass_user_id", flat=True
        )
    )
    for m in members:
        m.sso_linked = m.user_id in linked
        m.is_break_glass = m.user_id in glass
    return members
