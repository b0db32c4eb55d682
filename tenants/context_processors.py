"""Puts the shell's tenant switcher, roles and navigation into every template."""

from __future__ import annotations

from core.authz import capabilities_of, roles_of
from core.pages import navigation_for


def tenant_shell(request) -> dict:
    tenant = getattr(request, "tenant", None)
    user = getattr(request, "user", None)
    if tenant is None or user is None or not user.is_authenticated:
        return {"current_tenant": None, "nav_items": [], "current_roles": frozenset()}
    roles = roles_of(user, tenant)
    return {
        "current_tenant": tenant,
        "tenant_memberships": getattr(request, "memberships", []),
        "current_roles": roles,
        "nav_items": navigation_for(capabilities_of(user, tenant)),
    }
