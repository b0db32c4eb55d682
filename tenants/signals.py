"""Re-apply IdP group -> role mappings at every SSO login."""

from __future__ import annotations

import logging

from allauth.account.signals import user_logged_in
from django.core.exceptions import ValidationError
from django.dispatch import receiver

logger = logging.getLogger(__name__)


@receiver(user_logged_in)
def apply_idp_role_mappings(sender, request, user, sociallogin=None, **kwargs):
    # allauth sends the social login along; password and code logins carry none and keep their roles.
    if sociallogin is None:
        return
    from tenants.services import membership_sync_from_idp
    from tenants.sso import idp_groups_from_claims, sso_provider_for_login

    provider = sso_provider_for_login(sociallogin)
    if provider is None:
        return
    groups = idp_groups_from_claims(sociallogin.account.extra_data, claim=provider.groups_claim)
    try:
        membership_sync_from_idp(tenant=provider.tenant, user=user, groups=groups)
    except ValidationError as exc:
        # The last tenant admin keeps their membership rather than lock the tenant out.
        logger.warning(
            "SSO: roles of %s in %s left unchanged: %s",
            user.email,
            provider.tenant.slug,
            "; ".join(exc.messages),
        )


@receiver(user_logged_in, dispatch_uid="cavra-signin-record")
def record_signin(sender, request, user, sociallogin=None, **kwargs):
    """A sign-in goes into the audit trail (and evidence) of every tenant the person belongs to."""
    from tenants.signin import signin_event_record

    method = f"sso:{sociallogin.account.provider}" if sociallogin is not None else "password"
    signin_event_record(email=user.email, user=user, event="succeeded", detail={"method": method})
