"""Shell, members, personal API tokens and API skeleton URLs."""

from core.roles import Role
from tenants.models import Membership
from tenants.tokens import personal_token_issue
from tests.permission_matrix import Entry


def _membership(ctx) -> dict:
    user = ctx.member(Role.AUDITOR)
    return {"membership_id": Membership.objects.get(tenant=ctx.tenant, user=user).pk}


def _token(ctx) -> dict:
    owner = ctx.member(Role.AUDITOR)
    token, _ = personal_token_issue(user=owner, tenant=ctx.tenant, name="bot", actor=owner)
    return {"token_id": token.public_id}


def _switch_data(ctx) -> dict:
    return {"tenant": ctx.tenant.slug}


ENTRIES = [
    Entry("home"),
    Entry("tenants:switch", method="POST", data=_switch_data, ok=(302,)),
    Entry("tenants:members", roles=(Role.TENANT_ADMIN,)),
    Entry(
        "tenants:members",
        roles=(Role.TENANT_ADMIN,),
        method="POST",
        data=lambda ctx: {"email": f"new-{ctx.seq()}@example.test", "roles": ["auditor"]},
        ok=(302,),
    ),
    Entry("tenants:member", roles=(Role.TENANT_ADMIN,), kwargs=_membership),
    Entry(
        "tenants:member",
        roles=(Role.TENANT_ADMIN,),
        method="POST",
        kwargs=_membership,
        data={"roles": ["auditor", "executive"]},
        ok=(302,),
    ),
    Entry("tenants:member-remove", roles=(Role.TENANT_ADMIN,), kwargs=_membership),
    Entry("tenants:member-remove", roles=(Role.TENANT_ADMIN,), method="POST", kwargs=_membership, ok=(302,)),
    Entry("tenants:tokens"),
    Entry("tenants:tokens", method="POST", data={"name": "chat-ops bot"}, note="renders the new token once"),
    Entry(
        "tenants:token-revoke",
        method="POST",
        kwargs=_token,
        ok=(302,),
        note="any member revokes their own; the token here is another member's, which only a tenant admin "
        "(the first role, used for roles=()) sees - for everyone else it is a 404 (tests/foundation/test_personal_tokens.py)",
    ),
    Entry("tenants-api:me", api=True),
    Entry("tenants-api:members", roles=(Role.TENANT_ADMIN,), api=True),
    Entry("schema", api=True, public=True, note="the OpenAPI schema is public documentation"),
    Entry("swagger-ui", public=True),
    Entry("redoc", public=True),
]
