"""Idempotent demo data: tenants acme and globex, one user per role in each, and auditor@both.test."""

from __future__ import annotations

from django.db import transaction

from core.roles import ALL_ROLES, Role
from tenants.models import Membership, Tenant, User
from tenants.services import membership_add, membership_set_roles, tenant_create

DEMO_PASSWORD = "cavra-demo"
DEMO_TENANTS = {
    "acme": {"name": "Acme Corp", "edition": Tenant.Edition.ENTERPRISE},
    "globex": {
        "name": "Globex",
        "edition": Tenant.Edition.TRIAL,
        "entitlement_status": Tenant.Entitlement.TRIAL,
    },
}


def _user(email: str) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(
            email=email, password=DEMO_PASSWORD, full_name=email.split("@")[0].replace("_", " ").title()
        )
    elif not user.check_password(DEMO_PASSWORD):
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    return user


def _member(tenant: Tenant, user: User, roles: list[str]) -> Membership:
    membership = Membership.objects.filter(tenant=tenant, user=user).first()
    if membership is None:
        return membership_add(
            tenant=tenant, user=user, roles=roles, actor=None, action="membership.demo_seed"
        )
    if sorted(membership.roles) != sorted(roles):
        membership_set_roles(membership=membership, roles=roles, actor=None)
    return membership


@transaction.atomic
def seed_foundation() -> dict[str, Tenant]:
    tenants: dict[str, Tenant] = {}
    for slug, fields in DEMO_TENANTS.items():
        tenant = Tenant.objects.filter(slug=slug).first() or tenant_create(slug=slug, **fields)
        tenants[slug] = tenant
        for role in ALL_ROLES:
            _member(tenant, _user(f"{role}@{slug}.test"), [role])
    both = _user("auditor@both.test")
    for tenant in tenants.values():
        _member(tenant, both, [Role.AUDITOR.value])
    admin = User.objects.filter(email="admin@cavra.test").first()
    if admin is None:
        User.objects.create_superuser(
            email="admin@cavra.test", password=DEMO_PASSWORD, full_name="Platform Admin"
        )
    return tenants
