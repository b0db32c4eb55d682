"""Resolves request.tenant once per request from the user's memberships and the tenant chosen in the session."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import logout

from tenants.selectors import memberships_for_user

SESSION_KEY = "cavra_tenant_id"


def _deactivated_here(every, chosen) -> bool:
    """The session works in a tenant that has since deactivated its person. (Every session of a
    member chooses a tenant at its first request, so this catches all of their earlier sessions; a
    sign-in after the deactivation chooses an active tenant, or none.)"""
    return chosen is not None and any(m.tenant_id == chosen and m.deactivated_at is not None for m in every)


class TenantMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.tenant = None
        request.membership = None
        request.memberships = []
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            every = memberships_for_user(user=user, include_deactivated=True)
            memberships = [m for m in every if m.deactivated_at is None]
            chosen = request.session.get(SESSION_KEY)
            if _deactivated_here(every, chosen):
                # A session in a tenant that deactivated this person ends here, whatever else it could
                # reach (tenants.members).
                logout(request)
                messages.warning(request, "Your access to this tenant was deactivated; you were signed out.")
                return self.get_response(request)
            request.memberships = memberships
            current = next((m for m in memberships if m.tenant_id == chosen), None)
            if current is None and memberships:
                current = memberships[0]
                request.session[SESSION_KEY] = current.tenant_id
            if current is not None:
                request.membership = current
                request.tenant = current.tenant
        return self.get_response(request)


class SsoFormActionMiddleware:
    """Lets the sign-in pages' forms reach the tenants' IdPs under the CSP's `form-action 'self'`
    (see tenants.sso.sso_form_action_origins). Sits inside csp.middleware.CSPMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith("/accounts/") and response.get("Content-Type", "").startswith("text/html"):
            from tenants.sso import sso_form_action_origins

            origins = sso_form_action_origins()
            if origins:
                update = dict(getattr(response, "_csp_update", None) or {})
                update["form-action"] = [*update.get("form-action", []), *origins]
                response._csp_update = update
        return response
