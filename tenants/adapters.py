"""allauth adapters: no open sign-up; SSO logins get their roles from IdP group mappings."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter


class InviteOnlyAccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        return False


class TenantSocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request, sociallogin) -> bool:
        # An SSO user may be created only when their e-mail domain routes to a tenant's provider.
        from tenants.models import SsoProvider

        email = (sociallogin.user.email or "").lower()
        domain = email.rsplit("@", 1)[-1] if "@" in email else ""
        return any(
            domain in [d.strip().lower() for d in p.email_domains.split(",") if d.strip()]
            for p in SsoProvider.objects.filter(enabled=True)
        )

    def pre_social_login(self, request, sociallogin):
        super().pre_social_login(request, sociallogin)
        request.session["cavra_idp_groups"] = list(sociallogin.account.extra_data.get("groups", []) or [])
