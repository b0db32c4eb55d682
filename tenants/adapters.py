"""allauth adapters: no open sign-up; an SSO provider signs in only the e-mail domains of its tenant."""

from __future__ import annotations

import logging

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django import forms
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from tenants.signin import signin_event_record, signin_failure_count, signin_reset, signin_wait_seconds

logger = logging.getLogger(__name__)


class InviteOnlyAccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        return False

    # Sign-in throttling per account with backoff (tenants.signin); allauth keeps its per-address limit.
    def pre_authenticate(self, request, **credentials) -> None:
        email = credentials.get("email") or ""
        from tenants.sso_config import password_signin_refusal

        refusal = password_signin_refusal(email)
        if refusal:
            raise forms.ValidationError(refusal, code="sso_required")
        wait = signin_wait_seconds(email)
        if wait:
            raise forms.ValidationError(
                f"Too many failed sign-in attempts for this account. Try again in {wait} seconds.",
                code="too_many_login_attempts",
            )
        super().pre_authenticate(request, **credentials)

    def authenticate(self, request, **credentials):
        user = super().authenticate(request, **credentials)
        email = credentials.get("email") or ""
        if user is not None and email:
            signin_reset(email)
        return user

    def authentication_failed(self, request, **credentials) -> None:
        super().authentication_failed(request, **credentials)
        email = credentials.get("email") or ""
        if not email:
            return
        failures, lock = signin_failure_count(email)
        client = self.get_client_ip(request)
        signin_event_record(email=email, event="failed", detail={"failures": failures, "client_ip": client})
        if lock:
            logger.warning("sign-in: account locked for %ss after %s failures", lock, failures)
            signin_event_record(
                email=email,
                event="locked_out",
                detail={"failures": failures, "seconds": lock, "client_ip": client},
            )


def _is_member(tenant, user, email: str) -> bool:
    from tenants.models import Membership

    if user is not None and user.pk:
        return Membership.objects.filter(tenant=tenant, user=user).exists()
    return Membership.objects.filter(tenant=tenant, user__email__iexact=email.strip()).exists()


class TenantSocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request, sociallogin) -> bool:
        # An SSO user may be created only when their e-mail domain routes to the provider they used.
        from tenants.sso import sso_provider_for_login, sso_provider_may_sign_in

        provider = sso_provider_for_login(sociallogin)
        # Without just-in-time provisioning only people already invited have an account to sign in to.
        return (
            sso_provider_may_sign_in(provider=provider, email=sociallogin.user.email)
            and provider.jit_provisioning
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
            if email:
                signin_event_record(
                    email=email, event="sso_refused", detail={"provider": sociallogin.account.provider}
                )
            raise PermissionDenied("This sign-in provider does not serve that e-mail domain.")
        if sociallogin.user.pk and sociallogin.user.is_superuser:
            logger.warning("SSO: refused for superuser %s", sociallogin.user.email)
            raise PermissionDenied("Platform administrators sign in with their password.")
        if not provider.jit_provisioning and not _is_member(provider.tenant, sociallogin.user, email):
            signin_event_record(email=email, event="sso_refused", detail={"reason": "not provisioned"})
            raise PermissionDenied(
                f"You are not a member of {provider.tenant.name}: ask a tenant admin for an invitation."
            )

    def populate_user(self, request, sociallogin, data):
        user = super().populate_user(request, sociallogin, data)
        # A SAML IdP sends no "email_verified": it vouches for the addresses of the domains its tenant
        # routed to it (and only those: pre_social_login refuses the rest), so allauth may match the
        # address to an existing account.
        from tenants.sso import SAML_PROVIDER, sso_provider_for_login, sso_provider_may_sign_in

        if sociallogin.provider.id == SAML_PROVIDER:
            provider = sso_provider_for_login(sociallogin)
            for address in sociallogin.email_addresses:
                if sso_provider_may_sign_in(provider=provider, email=address.email):
                    address.verified = True
        return user

    def on_authentication_error(self, request, provider, error=None, exception=None, extra_context=None):
        super().on_authentication_error(request, provider, error, exception, extra_context)
        from tenants.sso import SAML_PROVIDER, saml_refusal_in_words

        if provider is not None and provider.id == SAML_PROVIDER and error != "cancelled":
            reason = (extra_context or {}).get("saml_last_error_reason") or ""
            logger.warning("SSO: SAML response for %s refused: %s", provider.sub_id, reason or error)
            raise ImmediateHttpResponse(
                render(
                    request,
                    "socialaccount/authentication_error.html",
                    {"refusal": saml_refusal_in_words(reason), "provider_name": provider.name},
                    status=403,
                )
            )

    def list_apps(self, request, provider=None, client_id=None):
        from tenants.sso import social_apps_with_secrets

        return social_apps_with_secrets(super().list_apps(request, provider=provider, client_id=client_id))

    def get_requests_session(self):
        from tenants.sso import verify_id_token_in_token_response

        session = super().get_requests_session()
        session.hooks["response"].append(verify_id_token_in_token_response)
        return session
