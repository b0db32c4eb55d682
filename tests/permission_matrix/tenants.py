"""Shell, members, personal API tokens and API skeleton URLs."""

import hashlib
from datetime import timedelta

from allauth.mfa.models import Authenticator
from django.utils import timezone

from core.roles import Role
from core.secrets import secret_encrypt
from tenants.models import Invitation, Membership, SsoProvider
from tests.factories import PersonalAccessTokenFactory
from tests.permission_matrix import Entry


def _membership(ctx) -> dict:
    user = ctx.member(Role.AUDITOR)
    return {"membership_id": Membership.objects.get(tenant=ctx.tenant, user=user).pk}


def _membership_with_mfa(ctx) -> dict:
    user = ctx.member(Role.AUDITOR)
    Authenticator.objects.create(user=user, type=Authenticator.Type.TOTP, data={"secret": "JBSWY3DPEHPK3PXP"})
    return {"membership_id": Membership.objects.get(tenant=ctx.tenant, user=user).pk}


def _deactivated_membership(ctx) -> dict:
    from tenants.members import membership_deactivate

    user = ctx.member(Role.AUDITOR)
    membership = Membership.objects.select_related("tenant", "user").get(tenant=ctx.tenant, user=user)
    membership_deactivate(membership=membership, actor=ctx.member(Role.TENANT_ADMIN))
    return {"membership_id": membership.pk}


def _api_member(make):
    return lambda ctx: {"member_id": f"mem_{make(ctx)['membership_id']}"}


def _invitation(ctx) -> dict:
    invitation = Invitation.objects.create(
        tenant=ctx.tenant,
        email=f"invitee-{ctx.seq()}@example.test",
        roles=["auditor"],
        token_hash=hashlib.sha256(f"matrix-{ctx.seq()}".encode()).hexdigest(),
        expires_at=timezone.now() + timedelta(days=1),
    )
    return {"invitation_id": invitation.public_id}


def _invitation_link(ctx) -> dict:
    token = f"matrix-link-{ctx.seq()}"
    Invitation.objects.create(
        tenant=ctx.tenant,
        email=f"linked-{ctx.seq()}@example.test",
        roles=["auditor"],
        token_hash=hashlib.sha256(token.encode()).hexdigest(),
        expires_at=timezone.now() + timedelta(days=1),
    )
    return {"token": token}


def _token(ctx) -> dict:
    return {"token_id": PersonalAccessTokenFactory(tenant=ctx.tenant, name="bot").public_id}


def _sso_provider(ctx) -> None:
    SsoProvider.objects.get_or_create(
        tenant=ctx.tenant,
        defaults={
            "name": "Matrix IdP",
            "issuer_url": "https://idp.matrix.test",
            "client_id": "matrix",
            "client_secret_encrypted": secret_encrypt("matrix-secret"),
            "email_domains": f"{ctx.tenant.slug}.matrix.test",
            "provider_id": f"{ctx.tenant.slug}-matrix",
            "enabled": False,
        },
    )


def _sso_settings(ctx) -> dict:
    return {
        "name": "Matrix IdP",
        "issuer_url": "https://idp.matrix.test",
        "client_id": "matrix",
        "client_secret": "matrix-secret",
        "scopes": "openid email",
        "groups_claim": "groups",
        "email_domains": f"{ctx.tenant.slug}.matrix.test",
    }


_MATRIX_IDP = "https://idp.matrix.test/saml"


def _saml_metadata() -> str:
    from tests.support.saml_idp import SamlIdp

    global _SAML_METADATA
    if _SAML_METADATA is None:
        _SAML_METADATA = SamlIdp(_MATRIX_IDP).metadata()
    return _SAML_METADATA


_SAML_METADATA: str | None = None


def _saml_provider(ctx) -> None:
    from tenants.saml_config import saml_metadata_parse

    SsoProvider.objects.get_or_create(
        tenant=ctx.tenant,
        protocol=SsoProvider.SAML,
        defaults={
            "name": "Matrix SAML",
            "saml_metadata_xml": _saml_metadata(),
            "saml_idp_entity_id": _MATRIX_IDP,
            "saml_idp": saml_metadata_parse(_saml_metadata(), entity_id=_MATRIX_IDP, field="metadata_xml"),
            "email_domains": f"{ctx.tenant.slug}.saml.matrix.test",
            "provider_id": f"{ctx.tenant.slug}-saml-matrix",
            "enabled": False,
        },
    )


def _saml_settings(ctx) -> dict:
    return {
        "name": "Matrix SAML",
        "metadata_xml": _saml_metadata(),
        "idp_entity_id": _MATRIX_IDP,
        "groups_attribute": "groups",
        "email_domains": f"{ctx.tenant.slug}.saml.matrix.test",
    }


def _saml_form(ctx) -> dict:
    return {f"saml-{key}": value for key, value in _saml_settings(ctx).items()}


def _closed_issuer(ctx) -> dict:
    # Nothing listens on port 9 of loopback: the test answers "could not connect" at once, offline.
    return {"issuer_url": "http://127.0.0.1:9"}


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
    Entry("tenants:member-deactivate", roles=(Role.TENANT_ADMIN,), kwargs=_membership),
    Entry(
        "tenants:member-deactivate", roles=(Role.TENANT_ADMIN,), method="POST", kwargs=_membership, ok=(302,)
    ),
    Entry("tenants:member-reactivate", roles=(Role.TENANT_ADMIN,), kwargs=_deactivated_membership),
    Entry(
        "tenants:member-reactivate",
        roles=(Role.TENANT_ADMIN,),
        method="POST",
        kwargs=_deactivated_membership,
        ok=(302,),
    ),
    Entry("tenants:member-remove", roles=(Role.TENANT_ADMIN,), method="POST", kwargs=_membership, ok=(302,)),
    Entry(
        "tenants:invitation-resend", roles=(Role.TENANT_ADMIN,), method="POST", kwargs=_invitation, ok=(302,)
    ),
    Entry(
        "tenants:invitation-revoke", roles=(Role.TENANT_ADMIN,), method="POST", kwargs=_invitation, ok=(302,)
    ),
    Entry(
        "tenants:invitation-accept",
        public=True,
        kwargs=_invitation_link,
        note="the link is the credential; accepting is tested in tests/tenants/test_invitations.py",
    ),
    Entry(
        "tenants:mfa-policy",
        roles=(Role.TENANT_ADMIN,),
        method="POST",
        data={},
        ok=(302,),
        note="an empty policy: a policy naming a role would send the matrix's other members to enrolment",
    ),
    Entry(
        "tenants:member-mfa-reset",
        roles=(Role.TENANT_ADMIN,),
        method="POST",
        kwargs=_membership_with_mfa,
        ok=(302,),
    ),
    Entry("tenants:sso", roles=(Role.TENANT_ADMIN,), setup=_sso_provider),
    Entry("tenants:sso", roles=(Role.TENANT_ADMIN,), method="POST", data=_sso_settings, ok=(302,)),
    Entry(
        "tenants:sso-state",
        roles=(Role.TENANT_ADMIN,),
        method="POST",
        setup=_sso_provider,
        data={"enabled": ""},
        ok=(302,),
    ),
    Entry("tenants:sso-test", roles=(Role.TENANT_ADMIN,), method="POST", data=_closed_issuer),
    Entry("tenants:sso-saml", roles=(Role.TENANT_ADMIN,), method="POST", data=_saml_form, ok=(302,)),
    Entry("tenants:sso-saml-test", roles=(Role.TENANT_ADMIN,), method="POST", data=_saml_form),
    Entry(
        "tenants:sso-state",
        roles=(Role.TENANT_ADMIN,),
        method="POST",
        setup=_saml_provider,
        data={"protocol": "saml", "enabled": "on"},
        ok=(302,),
    ),
    Entry(
        "tenants:sso-mappings",
        roles=(Role.TENANT_ADMIN,),
        method="POST",
        data={"mappings": "g = auditor", "save": "1"},
        ok=(302,),
    ),
    Entry("tenants:tokens"),
    Entry("tenants:tokens", method="POST", data={"name": "chat-ops bot"}, note="renders the new token once"),
    Entry(
        "tenants:token-revoke",
        method="POST",
        kwargs=_token,
        ok=(302,),
        note="any member revokes their own; the token here is another member's, which only a tenant admin "
        "(the first role, used for roles=()) sees - for everyone else it is a 404 (tests/tenants/test_personal_tokens.py)",
    ),
    Entry("tenants-api:me", api=True),
    Entry("tenants-api:members", roles=(Role.TENANT_ADMIN,), api=True),
    Entry(
        "tenants-api:member-deactivate",
        roles=(Role.TENANT_ADMIN,),
        api=True,
        method="POST",
        kwargs=_api_member(_membership),
    ),
    Entry(
        "tenants-api:member-reactivate",
        roles=(Role.TENANT_ADMIN,),
        api=True,
        method="POST",
        kwargs=_api_member(_deactivated_membership),
    ),
    Entry(
        "tenants-api:member-mfa-reset",
        roles=(Role.TENANT_ADMIN,),
        api=True,
        method="POST",
        kwargs=_api_member(_membership_with_mfa),
    ),
    Entry("tenants-api:mfa-policy", roles=(Role.TENANT_ADMIN,), api=True),
    Entry(
        "tenants-api:mfa-policy",
        roles=(Role.TENANT_ADMIN,),
        api=True,
        method="PUT",
        data={"mfa_required_roles": []},
        note="an empty policy: a policy naming a role would send the matrix's other members to enrolment",
    ),
    Entry("tenants-api:invitations", roles=(Role.TENANT_ADMIN,), api=True),
    Entry(
        "tenants-api:invitations",
        roles=(Role.TENANT_ADMIN,),
        api=True,
        method="POST",
        data=lambda ctx: {"email": f"api-{ctx.seq()}@example.test", "roles": ["auditor"]},
        ok=(201,),
    ),
    Entry(
        "tenants-api:invitation-resend",
        roles=(Role.TENANT_ADMIN,),
        api=True,
        method="POST",
        kwargs=_invitation,
    ),
    Entry(
        "tenants-api:invitation-revoke",
        roles=(Role.TENANT_ADMIN,),
        api=True,
        method="POST",
        kwargs=_invitation,
    ),
    Entry("tenants-api:sso-provider", roles=(Role.TENANT_ADMIN,), api=True, setup=_sso_provider),
    Entry(
        "tenants-api:sso-provider",
        roles=(Role.TENANT_ADMIN,),
        api=True,
        method="PUT",
        data=_sso_settings,
        content_type="application/json",
    ),
    Entry(
        "tenants-api:sso-provider-state",
        roles=(Role.TENANT_ADMIN,),
        api=True,
        method="POST",
        setup=_sso_provider,
        data={"enabled": False},
        content_type="application/json",
    ),
    Entry(
        "tenants-api:sso-provider-test",
        roles=(Role.TENANT_ADMIN,),
        api=True,
        method="POST",
        data=_closed_issuer,
        content_type="application/json",
    ),
    Entry("tenants-api:sso-saml", roles=(Role.TENANT_ADMIN,), api=True, setup=_saml_provider),
    Entry(
        "tenants-api:sso-saml",
        roles=(Role.TENANT_ADMIN,),
        api=True,
        method="PUT",
        data=_saml_settings,
        content_type="application/json",
    ),
    Entry(
        "tenants-api:sso-saml-state",
        roles=(Role.TENANT_ADMIN,),
        api=True,
        method="POST",
        setup=_saml_provider,
        data={"enabled": True},
        content_type="application/json",
    ),
    Entry(
        "tenants-api:sso-saml-test",
        roles=(Role.TENANT_ADMIN,),
        api=True,
        method="POST",
        setup=_saml_provider,
        data={},
        content_type="application/json",
    ),
    Entry("tenants-api:sso-role-mappings", roles=(Role.TENANT_ADMIN,), api=True),
    Entry(
        "tenants-api:sso-role-mappings",
        roles=(Role.TENANT_ADMIN,),
        api=True,
        method="PUT",
        data={"mappings": [{"idp_group": "g", "role": "auditor"}]},
        content_type="application/json",
    ),
    Entry("schema", api=True, public=True, note="the OpenAPI schema is public documentation"),
    Entry("swagger-ui", public=True),
    Entry("redoc", public=True),
]
