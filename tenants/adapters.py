"""allauth adapters: no open sign-up; an SSO provider signs in only the e-mail domains of its tenant."""

from __future__ import annotations

import logging

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.core.exceptions import PermissionDenied

logger = logging.getLogger(__name__)


class InviteOnlyAccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        return False


class TenantSocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request, sociallogin) -> bool:
        # An SSO user may be created only when their e-mail domain routes to the provider they used.
        from tenants.sso import sso_provider_for_login, sso_provider_may_sign_in

        return sso_provider_may_sign_in(
            provider=sso_provider_for_login(sociallogin), email=sociallogin.user.email
        )

    def pre_social_login(self, request, sociallogin):
        super().pre_social_login(request, sociallogin)
        from tenants.sso import sso_provider_for_login, sso_provider_may_sign_in

        provider = sso_provider_for_login(sociallogin)
        email = sociallogin.user.email if sociallogin.user else ""
        # One tenant's IdP must not vouch for another tenant's people (e-mail authentication would
        # otherwise hand it their accounts), nor for platform superusers.
        if not sso_provider_may_sign_in(provider=provider, email=email):
            logger.warning(
                "SSO: %s refused for %r (provider off or domain not routed)",
                sociallogin.account.provider,
                email,
            )
            raise PermissionDenied("This sign-in provider does not serve that e-mail domain.")
        if sociallogin.user.pk and sociallogin.user.is_superuser:
            logger.warning("SSO: refused for superuser %s", sociallogin.user.email)
            raise PermissionDenied("Platform administrators sign in with their password.")

    def get_requests_session(self):
        from tenants.sso import verify_id_token_in_token_response

        session = super().get_requests_session()
        session.hooks["response"].append(verify_id_token_in_token_response)
        return session
