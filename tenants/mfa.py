"""Multi-factor authentication policy per tenant: which roles need it, who is enrolled, the admin's reset.

allauth.mfa does enrolment (TOTP, WebAuthn, recovery codes) and asks for the second factor at every
password sign-in of an enrolled person. This module adds the tenant's rule on top: a person holding a
role the tenant lists in `mfa_required_roles` is sent to enrolment before any page, and a tenant admin
cannot grant such a role to a member who has not enrolled (an invitation may carry it: accepting it
leads straight to enrolment). SSO sign-ins are left to the identity
provider's own MFA (the portal cannot see it, and should not ask twice)."""

from __future__ import annotations

from allauth.account.authentication import get_authentication_records
from allauth.mfa.models import Authenticator
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import redirect

from core.authz import authorize_actor, can, roles_of
from core.roles import Role, parse_roles
from tenants.audit import record_audit
from tenants.models import Membership, Tenant, User

SECOND_FACTORS = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)
_LABELS = dict(Role.choices)
# Pages a person who must enrol can still reach: enrolment itself, sign-out, static files, the API
# (tokens, not sessions, are its normal door; a session there still meets the same page redirect).
_OPEN_PREFIXES = ("/accounts/", "/static/", "/api/", "/favicon")


def mfa_label(kinds: list[str]) -> str:
    labels = {Authenticator.Type.TOTP: "authenticator app", Authenticator.Type.WEBAUTHN: "security key"}
    names = [labels[k] for k in kinds if k in labels]
    return ", ".join(names) if names else "not set up"


def members_with_mfa(members) -> list[Membership]:
    """The memberships, each with `.mfa` (its user's authenticator types) and `.mfa_label`."""
    members = list(members)
    methods = mfa_methods(m.user_id for m in members)
    for m in members:
        m.mfa = methods.get(m.user_id, [])
        m.mfa_label = mfa_label(m.mfa)
    return members


def mfa_methods(user_ids) -> dict[int, list[str]]:
    """{user id: the authenticator types they have}, for a list page in one query."""
    methods: dict[int, list[str]] = {}
    for user_id, kind in Authenticator.objects.filter(user_id__in=list(user_ids)).values_list(
        "user_id", "type"
    ):
        methods.setdefault(user_id, []).append(kind)
    return {k: sorted(v) for k, v in methods.items()}


def mfa_enrolled(user: User) -> bool:
    return Authenticator.objects.filter(user=user, type__in=SECOND_FACTORS).exists()


def mfa_grant_check(*, tenant: Tenant, user: User, roles: list[str]) -> None:
    """Refuse to grant a role the tenant requires MFA for to a person without a second factor."""
    needing = [r for r in roles if r in set(tenant.mfa_required_roles)]
    if needing and not mfa_enrolled(user):
        labels = ", ".join(_LABELS.get(r, r) for r in needing)
        raise ValidationError(
            {
                "roles": f"{tenant.name} requires multi-factor authentication for {labels}, and {user.email} "
                "has not set it up. Grant other roles first; they can add an authenticator under Account → "
                "Two-factor authentication."
            }
        )


def tenant_mfa_policy_set(*, tenant: Tenant, actor: User | None, roles) -> Tenant:
    authorize_actor(actor, tenant, "tenants.manage_members")
    try:
        parsed = parse_roles(roles)
    except ValueError as exc:
        raise ValidationError({"mfa_required_roles": str(exc)})
    with transaction.atomic():
        current = Tenant.objects.select_for_update().get(pk=tenant.pk)
        before = list(current.mfa_required_roles)
        if before == parsed:
            return current
        current.mfa_required_roles = parsed
        current.save(update_fields=["mfa_required_roles"])
        record_audit(
            tenant=current,
            actor=actor,
            action="mfa.policy_change",
            obj=current,
            before={"mfa_required_roles": before},
            after={"mfa_required_roles": parsed},
        )
    tenant.mfa_required_roles = parsed
    return current


def mfa_reset(*, membership: Membership, actor: User | None) -> int:
    """Remove every authenticator of a member (a lost phone or key), so they enrol again at next sign-in.
    The person's authenticators serve all their tenants, so the actor must manage members in each."""
    tenant, user = membership.tenant, membership.user
    authorize_actor(actor, tenant, "tenants.manage_members")
    if actor is not None and actor.pk == user.pk:
        raise ValidationError({"membership": "Reset your own MFA under Account → Two-factor authentication."})
    others = [
        m.tenant for m in Membership.objects.filter(user=user).exclude(tenant=tenant).select_related("tenant")
    ]
    if actor is not None and any(not can(actor, t, "tenants.manage_members") for t in others):
        raise ValidationError(
            {"membership": f"{user.email} also belongs to another tenant; ask a platform administrator."}
        )
    with transaction.atomic():
        kinds = sorted(Authenticator.objects.filter(user=user).values_list("type", flat=True))
        if not kinds:
            raise ValidationError({"membership": f"{user.email} has no MFA to reset."})
        Authenticator.objects.filter(user=user).delete()
        record_audit(
            tenant=tenant,
            actor=actor,
            action="mfa.reset",
            obj=membership,
            object_repr=user.email,
            before={"user": user.email, "authenticators": kinds},
            after={"user": user.email, "authenticators": []},
        )
    return len(kinds)


def _signed_in_through_sso(request) -> bool:
    return any(r.get("method") == "socialaccount" for r in get_authentication_records(request))


class MfaRequiredMiddleware:
    """Send a person whose tenant requires MFA of their role to enrolment before any page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        # request.memberships (TenantMiddleware) carries the tenants: no query unless a policy applies.
        requiring = [m.tenant for m in getattr(request, "memberships", []) if m.tenant.mfa_required_roles]
        if requiring and not request.path.startswith(_OPEN_PREFIXES) and not _signed_in_through_sso(request):
            tenants = [t for t in requiring if set(t.mfa_required_roles) & roles_of(user, t)]
            if tenants and not mfa_enrolled(user):
                messages.warning(
                    request,
                    f"{', '.join(t.name for t in tenants)} requires multi-factor authentication for your role: "
                    "set up an authenticator app to continue.",
                )
                return redirect("mfa_activate_totp")
        return self.get_response(request)
