"""Re-apply IdP group -> role mappings at every SSO login."""

from __future__ import annotations

from allauth.socialaccount.signals import pre_social_login  # noqa: F401  (documented hook point)
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver


@receiver(user_logged_in)
def apply_idp_role_mappings(sender, request, user, **kwargs):
    groups = request.session.pop("cavra_idp_groups", None) if request is not None else None
    if groups is None:
        return
    from tenants.models import SsoProvider
    from tenants.services import membership_sync_from_idp

    domain = user.email.rsplit("@", 1)[-1].lower()
    for provider in SsoProvider.objects.filter(enabled=True).select_related("tenant"):
        domains = [d.strip().lower() for d in provider.email_domains.split(",") if d.strip()]
        if domain in domains:
            membership_sync_from_idp(tenant=provider.tenant, user=user, groups=groups)
