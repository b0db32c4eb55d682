"""Invitations by e-mail: create, resend, revoke and accept. The e-mail goes through the outbox after commit;
the link's token exists in clear only in that e-mail (and its outbox row), the database keeps its hash."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from core.authz import authorize_actor
from core.outbox import outbox_enqueue
from tenants.audit import record_audit
from tenants.models import Invitation, Membership, Tenant, User
from tenants.services import _validated_roles, membership_add

INVITATION_DAYS = 7


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_url(token: str, *, base_url: str) -> str:
    base = getattr(settings, "PORTAL_BASE_URL", "") or base_url
    return f"{base.rstrip('/')}/tenants/invitations/{token}/"


def _send(invitation: Invitation, *, actor: User | None, base_url: str) -> None:
    """New token, e-mail queued in this transaction (the previous link stops working)."""
    token = secrets.token_urlsafe(32)
    invitation.token_hash = _hash(token)
    invitation.expires_at = timezone.now() + timedelta(days=INVITATION_DAYS)
    invitation.sent_count += 1
    invitation.last_sent_at = timezone.now()
    invitation.save()
    inviter = actor.display_name if actor is not None else "An administrator"
    roles = ", ".join(invitation.role_labels())
    outbox_enqueue(
        tenant=invitation.tenant,
        kind="email.invitation",
        idempotency_key=f"invitation:{invitation.public_id}:{invitation.sent_count}",
        recipients=[invitation.email],
        subject=f"You are invited to {invitation.tenant.name} on CAVRA Portal",
        body=(
            f"{inviter} invited you to join {invitation.tenant.name} on CAVRA Portal as: {roles}.\n\n"
            f"Accept the invitation here (valid until {invitation.expires_at:%Y-%m-%d %H:%M} UTC, usable once):\n"
            f"{invitation_url(token, base_url=base_url)}\n\n"
            "If you did not expect this, ignore this e-mail."
        ),
    )


def invitation_create(
    *, tenant: Tenant, actor: User | None, email: str, roles, base_url: str, full_name: str = ""
) -> Invitation:
    authorize_actor(actor, tenant, "tenants.manage_members")
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": "Enter a valid e-mail address."})
    parsed = _validated_roles(roles)
    with transaction.atomic():
        Tenant.objects.select_for_update().get(pk=tenant.pk)  # one pending invitation per address
        if Membership.objects.filter(tenant=tenant, user__email__iexact=email).exists():
            raise ValidationError({"email": f"{email} is already a member of {tenant.name}."})
        pending = Invitation.objects.filter(
            tenant=tenant, email=email, accepted_at=None, revoked_at=None, expires_at__gt=timezone.now()
        )
        if pending.exists():
            raise ValidationError(
                {"email": f"{email} already has a pending invitation: resend or revoke it."}
            )
        invitation = Invitation(
            tenant=tenant,
            email=email,
            full_name=(full_name or "").strip()[:150],
            roles=parsed,
            invited_by=actor,
        )
        _send(invitation, actor=actor, base_url=base_url)
        record_audit(
            tenant=tenant,
            actor=actor,
            action="invitation.create",
            obj=invitation,
            object_repr=email,
            after={"email": email, "roles": parsed, "expires_at": invitation.expires_at.isoformat()},
        )
    return invitation


def _open(invitation: Invitation) -> Invitation:
    current = Invitation.objects.select_for_update().select_related("tenant").get(pk=invitation.pk)
    if current.state in ("accepted", "revoked"):
        raise ValidationError({"invitation": f"This invitation was already {current.state}."})
    return current


def invitation_resend(*, invitation: Invitation, actor: User | None, base_url: str) -> Invitation:
    authorize_actor(actor, invitation.tenant, "tenants.manage_members")
    with transaction.atomic():
        current = _open(invitation)
        _send(current, actor=actor, base_url=base_url)
        record_audit(
            tenant=current.tenant,
            actor=actor,
            action="invitation.resend",
            obj=current,
            object_repr=current.email,
            after={"sent_count": current.sent_count, "expires_at": current.expires_at.isoformat()},
        )
    return current


def invitation_revoke(*, invitation: Invitation, actor: User | None) -> Invitation:
    authorize_actor(actor, invitation.tenant, "tenants.manage_members")
    with transaction.atomic():
        current = _open(invitation)
        current.revoked_at, current.revoked_by = timezone.now(), actor
        current.save(update_fields=["revoked_at", "revoked_by"])
        record_audit(
            tenant=current.tenant,
            actor=actor,
            action="invitation.revoke",
            obj=current,
            object_repr=current.email,
        )
    return current


def invitation_by_token(token: str) -> Invitation | None:
    """The pending invitation a link names, or None (unknown, used, revoked and expired look the same)."""
    invitation = Invitation.objects.select_related("tenant").filter(token_hash=_hash(token or "")).first()
    return invitation if invitation is not None and invitation.state == "pending" else None


def invitation_accept(
    *, token: str, user: User | None, password: str = "", full_name: str = ""
) -> Membership:
    """Join with the invited roles, once. `user` is the signed-in person (it must be the invited address);
    without one, a new account is made for the invited address with `password`."""
    with transaction.atomic():
        found = invitation_by_token(token)
        if found is None:
            raise ValidationError(
                {"invitation": "This invitation link is not valid: it expired, was used or was revoked."}
            )
        invitation = _open(found)
        if invitation.expires_at <= timezone.now():
            raise ValidationError(
                {"invitation": "This invitation link is not valid: it expired, was used or was revoked."}
            )
        if user is not None:
            if user.email.lower() != invitation.email:
                raise ValidationError(
                    {"invitation": f"This invitation is for {invitation.email}; sign out first."}
                )
        else:
            if User.objects.filter(email__iexact=invitation.email).exists():
                raise ValidationError(
                    {"invitation": f"{invitation.email} already has an account: sign in to accept."}
                )
            user = User(email=invitation.email, full_name=(full_name or invitation.full_name).strip()[:150])
            from django.contrib.auth.password_validation import validate_password

            try:
                validate_password(password, user)
            except ValidationError as exc:
                raise ValidationError({"password": exc.messages})
            user.set_password(password)
            user.save()
        # The system grants what the tenant admin chose (their MFA policy then asks for enrolment).
        membership = membership_add(
            tenant=invitation.tenant,
            user=user,
            roles=invitation.roles,
            actor=None,
            action="invitation.accept",
        )
        Membership.objects.filter(pk=membership.pk).update(invited_by=invitation.invited_by)
        invitation.accepted_at, invitation.accepted_by = timezone.now(), user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
    return membership
