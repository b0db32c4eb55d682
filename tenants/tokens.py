"""Personal API tokens (`cvp_…`): issuing, revoking, and which of them a member may see."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from core.authz import can, get_for_tenant_or_404, is_member
from tenants.audit import record_audit
from tenants.models import Membership, PersonalAccessToken, Tenant, User

TOKEN_PREFIX = "cvp_"
TOKEN_VISIBLE_CHARS = 12
DEFAULT_LIFETIME = timedelta(days=90)
MAX_LIFETIME = timedelta(days=365)
MAX_NAME_LENGTH = 100


def personal_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# ---------------------------------------------------------------- selectors


def personal_tokens_visible(*, tenant: Tenant, user: User) -> QuerySet[PersonalAccessToken]:
    """The caller's own tokens in this tenant; a tenant admin sees every member's."""
    if not is_member(user, tenant):
        return PersonalAccessToken.objects.none()
    tokens = PersonalAccessToken.objects.filter(tenant=tenant).select_related("user", "revoked_by")
    if not can(user, tenant, "tenants.manage_tokens"):
        tokens = tokens.filter(user=user)
    return tokens.order_by("-created_at", "-id")


def personal_token_get(*, tenant: Tenant, user: User, public_id: str) -> PersonalAccessToken:
    """Find and may-see in one: another member's token (unless admin) or tenant's is a 404."""
    return get_for_tenant_or_404(
        personal_tokens_visible(tenant=tenant, user=user), tenant, public_id=public_id
    )


# ---------------------------------------------------------------- services


def personal_token_issue(
    *, user: User, tenant: Tenant, name: str, expires_at: datetime | None = None, actor: User
) -> tuple[PersonalAccessToken, str]:
    """A fresh token for the user in this tenant; the plaintext is returned here and never again.

    Only the user may mint their own token: one issued by anyone else would let them act as the user."""
    if actor is None or getattr(actor, "pk", None) != user.pk:
        raise PermissionDenied("A personal API token can only be created by the person it belongs to.")
    if (
        not user.is_active
        or not Membership.objects.filter(tenant=tenant, user=user, deactivated_at=None).exists()
    ):
        raise PermissionDenied(f"{user.email} is not a member of {tenant.name}.")
    name = str(name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the token a name, e.g. the script or bot that will use it."})
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError({"name": f"At most {MAX_NAME_LENGTH} characters."})
    now = timezone.now()
    if expires_at is None:
        expires_at = now + DEFAULT_LIFETIME
    elif timezone.is_naive(expires_at):
        raise ValidationError({"expires_at": "Give a time zone (e.g. 2030-01-01T00:00:00Z)."})
    elif expires_at <= now:
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    elif expires_at > now + MAX_LIFETIME:
        raise ValidationError({"expires_at": "The expiry must be within one year."})
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = PersonalAccessToken.objects.create(
            tenant=tenant,
            user=user,
            name=name,
            token_hash=personal_token_hash(plaintext),
            prefix=plaintext[:TOKEN_VISIBLE_CHARS],
            created_at=now,
            expires_at=expires_at,
        )
        record_audit(
            tenant=tenant,
            actor=actor,
            action="personal_token.issue",
            obj=token,
            object_repr=f"{token.prefix}… {name} of {user.email}",
            after={
                "id": token.public_id,
                "user": user.email,
                "name": name,
                "prefix": token.prefix,
                "expires_at": _iso(expires_at),
            },
        )
    return token, plaintext


def personal_token_revoke(*, token: PersonalAccessToken, actor: User) -> PersonalAccessToken:
    """Revoke now (the owner or a tenant admin); the next request with it is refused, nothing caches it."""
    with transaction.atomic():
        current = (
            PersonalAccessToken.objects.select_for_update().select_related("user", "tenant").get(pk=token.pk)
        )
        is_owner = actor is not None and getattr(actor, "pk", None) == current.user_id
        if not (is_owner or can(actor, current.tenant, "tenants.manage_tokens")):
            raise PermissionDenied("Only the token's owner or a tenant admin may revoke it.")
        if current.revoked_at is not None:
            return current
        current.revoked_at = timezone.now()
        current.revoked_by = actor
        current.save(update_fields=["revoked_at", "revoked_by"])
        record_audit(
            tenant=current.tenant,
            actor=actor,
            action="personal_token.revoke",
            obj=current,
            object_repr=f"{current.prefix}… {current.name} of {current.user.email}",
            before={"revoked_at": None},
            after={"revoked_at": _iso(current.revoked_at)},
        )
    token.revoked_at = current.revoked_at
    token.revoked_by = current.revoked_by
    return current
