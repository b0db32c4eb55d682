"""Home panels for tenant admins (members, SSO) and for everyone (their roles, other roles' placeholders)."""

from __future__ import annotations

from core.pages import HomePanel
from core.roles import Role
from tenants.selectors import tenant_audit_entries, tenant_members, tenant_sso_providers


def _admin_context(*, user, tenant) -> dict:
    members = list(tenant_members(tenant=tenant, user=user))
    return {
        "member_count": len(members),
        "admins": [m for m in members if Role.TENANT_ADMIN in m.roles],
        "sso_providers": list(tenant_sso_providers(tenant=tenant, user=user)),
        "recent_audit": tenant_audit_entries(tenant=tenant, user=user, limit=5),
    }


HOME_PANELS = [
    HomePanel(
        "Members and sign-in", "tenants/panels/admin.html", "tenants.manage_members", _admin_context, order=50
    ),
]
