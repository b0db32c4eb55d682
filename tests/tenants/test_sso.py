"""Per-tenant OIDC single sign-on, end to end against a local OIDC provider on 127.0.0.1."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from allauth.socialaccount.models import SocialAccount, SocialApp
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client
from guardian.shortcuts import get_perms

from core.roles import Role
from core.secrets import secret_decrypt, secret_encrypt
from tenants.models import AuditEntry, Membership, RoleMapping, SsoProvider, User
from tenants.sso import idp_groups_from_claims, sso_provider_sync
from tests.support.oidc_provider import IdpUser, OidcProvider

pytestmark = pytest.mark.django_db


@pytest.fixture
def idp():
    with OidcProvider(client_id="cavra-acme", client_secret="acme-client-secret") as provider:
        yield provider


@pytest.fixture
def acme_sso(acme, idp) -> SsoProvider:
    """Acme's provider, configured through the service, with group -> role mappings."""
    provider = SsoProvider.objects.create(
        tenant=acme,
        name="Acme Okta",
        issuer_url=idp.issuer,
        client_id=idp.client_id,
        client_secret_encrypted=secret_encrypt(idp.client_secret),
        email_domains="acme.test, acme-labs.test",
    )
    sso_provider_sync(provider=provider)
    for group, role in [
        ("acme-secops", Role.SECURITY_REVIEWER),
        ("acme-ops", Role.OPERATOR),
        ("acme-auditors", Role.AUDITOR),
        ("acme-admins", Role.TENANT_ADMIN),
    ]:
        RoleMapping.objects.create(tenant=acme, idp_group=group, role=role)
    provider.refresh_from_db()
    return provider


def sso_sign_in(client: Client, idp: OidcProvider, provider: SsoProvider, *, state: str | None = None):
    """Press "Sign in with ...", let the IdP authorize, and follow its redirect back to the portal."""
    start = client.post(f"/accounts/oidc/{provider.provider_id}/login/", {"process": "login"})
    assert start.status_code == 302, start.content[:500]
    assert start["Location"].startswith(f"{idp.issuer}/authorize?")
    authorize = requests.get(start["Location"], allow_redirects=False, timeout=5)
    assert authorize.status_code == 302, authorize.text
    back = urlsplit(authorize.headers["Location"])
    assert back.path == f"/accounts/oidc/{provider.provider_id}/login/callback/"
    query = {k: v[0] for k, v in parse_qs(back.query).items()}
    if state is not None:
        query["state"] = state
    return client.get(back.path, query)


def me(client: Client) -> dict:
    response = client.get("/api/v1/me")
    assert response.status_code == 200, response.content
    return response.json()


def is_signed_in(client: Client) -> bool:
    return client.get("/api/v1/me").status_code == 200


def test_login_page_offers_enabled_providers_only(acme, globex, idp, acme_sso):
    disabled = SsoProvider.objects.create(
        tenant=globex, name="Globex Entra", issuer_url=idp.issuer, client_id="g", enabled=False
    )
    sso_provider_sync(provider=disabled)
    page = Client().get("/accounts/login/").content.decode()
    assert "Acme Okta" in page
    assert f"/accounts/oidc/{acme_sso.provider_id}/login/" in page
    assert "Globex Entra" not in page
    assert "Sign in with Acme Okta" in page and "sign up" not in page
    # Following a link never starts a sign-in: GET shows a confirmation, only the POST redirects.
    assert Client().get(f"/accounts/oidc/{acme_sso.provider_id}/login/").status_code == 200
    assert ("GET", "/authorize") not in idp.requests


def test_new_user_gets_exactly_the_mapped_roles_and_they_follow_the_idp(acme, idp, acme_sso):
    idp.user = IdpUser(
        sub="okta|1", email="Dana@Acme.test", claims={"groups": ["acme-secops", "acme-ops", "all-staff"]}
    )
    client = Client()
    response = sso_sign_in(client, idp, acme_sso)
    assert response.status_code == 302 and response["Location"] == "/"

    user = User.objects.get(email__iexact="dana@acme.test")
    assert SocialAccount.objects.get(user=user).provider == acme_sso.provider_id
    assert me(client)["tenant"]["slug"] == "acme"
    assert me(client)["roles"] == [Role.OPERATOR, Role.SECURITY_REVIEWER]
    assert set(get_perms(user, acme)) == {"role_operator", "role_security_reviewer"}
    assert AuditEntry.objects.filter(tenant=acme, action="membership.sso_add").exists()
    # The sign-in itself is in the tenant's audit trail, with the method.
    signin = AuditEntry.objects.get(tenant=acme, action="signin.succeeded", actor=user)
    assert signin.after == {"method": f"sso:{acme_sso.provider_id}"}
    # The protocol really ran: discovery, token exchange with PKCE, userinfo and JWKS.
    assert {("POST", "/token"), ("GET", "/userinfo"), ("GET", "/jwks")} <= set(idp.requests)

    # Next login, the IdP says otherwise: the roles follow, grants included.
    idp.user = IdpUser(sub="okta|1", email="dana@acme.test", claims={"groups": ["acme-auditors"]})
    second = Client()
    assert sso_sign_in(second, idp, acme_sso).status_code == 302
    assert me(second)["roles"] == [Role.AUDITOR]
    assert set(get_perms(user, acme)) == {"role_auditor"}
    assert User.objects.filter(email__iexact="dana@acme.test").count() == 1


def test_groups_mapping_to_nothing_give_no_membership_and_remove_an_old_one(acme, idp, acme_sso):
    idp.user = IdpUser(sub="okta|2", email="eve@acme.test", claims={"groups": ["all-staff"]})
    client = Client()
    assert sso_sign_in(client, idp, acme_sso).status_code == 302
    assert me(client)["tenant"] is None and me(client)["roles"] == []
    assert not Membership.objects.filter(user__email="eve@acme.test").exists()

    idp.user = IdpUser(sub="okta|2", email="eve@acme.test", claims={"groups": ["acme-ops"]})
    assert sso_sign_in(Client(), idp, acme_sso).status_code == 302
    assert Membership.objects.get(user__email="eve@acme.test").roles == [Role.OPERATOR]

    idp.user = IdpUser(sub="okta|2", email="eve@acme.test", claims={})
    assert sso_sign_in(Client(), idp, acme_sso).status_code == 302
    assert not Membership.objects.filter(user__email="eve@acme.test").exists()
    assert get_perms(User.objects.get(email="eve@acme.test"), acme) == []


def test_last_tenant_admin_keeps_membership_when_groups_vanish(acme, idp, acme_sso, caplog):
    idp.user = IdpUser(sub="okta|3", email="root@acme.test", claims={"groups": ["acme-admins"]})
    assert sso_sign_in(Client(), idp, acme_sso).status_code == 302
    assert Membership.objects.get(user__email="root@acme.test").roles == [Role.TENANT_ADMIN]

    idp.user = IdpUser(sub="okta|3", email="root@acme.test", claims={"groups": []})
    with caplog.at_level(logging.WARNING, logger="tenants.signals"):
        client = Client()
        assert sso_sign_in(client, idp, acme_sso).status_code == 302
    assert Membership.objects.get(user__email="root@acme.test").roles == [Role.TENANT_ADMIN]
    assert me(client)["roles"] == [Role.TENANT_ADMIN]
    assert "root@acme.test" in caplog.text and "last tenant admin" in caplog.text


def test_invited_user_is_signed_in_to_their_account_by_verified_email(acme, idp, acme_sso, member):
    invited = member(acme, Role.EXECUTIVE, email="ceo@acme.test")
    idp.user = IdpUser(sub="okta|4", email="ceo@acme.test", claims={"groups": ["acme-auditors"]})
    client = Client()
    assert sso_sign_in(client, idp, acme_sso).status_code == 302
    assert me(client)["email"] == "ceo@acme.test"
    assert SocialAccount.objects.get(provider=acme_sso.provider_id).user == invited
    assert Membership.objects.get(user=invited).roles == [Role.AUDITOR]


def test_email_domain_routed_to_no_tenant_cannot_sign_up(acme, idp, acme_sso):
    idp.user = IdpUser(sub="okta|5", email="mallory@elsewhere.test", claims={"groups": ["acme-admins"]})
    client = Client()
    response = sso_sign_in(client, idp, acme_sso)
    assert response.status_code == 401  # allauth's authentication error page
    assert not is_signed_in(client)
    assert not User.objects.filter(email="mallory@elsewhere.test").exists()


def test_a_tenants_idp_cannot_vouch_for_another_tenants_people(acme, globex, idp, acme_sso, member):
    target = member(globex, Role.TENANT_ADMIN, email="boss@globex.test")
    globex_idp_domains = SsoProvider.objects.create(
        tenant=globex,
        name="Globex SSO",
        issuer_url="https://sso.globex.test",
        client_id="x",
        email_domains="globex.test",
    )
    sso_provider_sync(provider=globex_idp_domains)
    # Acme's IdP asserts a verified Globex address: refused, no link to Globex's account.
    idp.user = IdpUser(sub="okta|6", email="boss@globex.test", claims={"groups": ["acme-admins"]})
    client = Client()
    sso_sign_in(client, idp, acme_sso)
    assert not is_signed_in(client)
    assert not SocialAccount.objects.filter(user=target).exists()
    assert not Membership.objects.filter(tenant=acme, user=target).exists()
    # Globex's admins see that someone tried: the refusal is in Globex's audit trail.
    assert AuditEntry.objects.filter(
        tenant=globex, action="signin.sso_refused", object_repr=target.email
    ).exists()


def test_id_token_signed_with_the_wrong_key_is_refused(acme, idp, acme_sso, caplog):
    idp.forge_with_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    idp.user = IdpUser(sub="okta|7", email="frank@acme.test", claims={"groups": ["acme-admins"]})
    client = Client()
    with caplog.at_level(logging.WARNING, logger="tenants.sso"):
        response = sso_sign_in(client, idp, acme_sso)
    assert "Signature verification failed" in caplog.text
    assert response.status_code == 401  # allauth's authentication error page
    assert not is_signed_in(client)
    assert not User.objects.filter(email="frank@acme.test").exists()

    idp.forge_with_key = None
    assert sso_sign_in(client, idp, acme_sso).status_code == 302
    assert is_signed_in(client)


def test_callback_with_a_wrong_state_does_not_sign_in(acme, idp, acme_sso):
    idp.user = IdpUser(sub="okta|8", email="grace@acme.test", claims={"groups": ["acme-ops"]})
    client = Client()
    response = sso_sign_in(client, idp, acme_sso, state="not-the-state-we-sent")
    assert response.status_code == 401
    assert not is_signed_in(client)
    assert ("POST", "/token") not in idp.requests  # the code was never redeemed
    assert not User.objects.filter(email="grace@acme.test").exists()


def test_disabled_provider_is_not_offered_and_cannot_be_used(acme, idp, acme_sso):
    client = Client()
    client.post(f"/accounts/oidc/{acme_sso.provider_id}/login/", {"process": "login"})  # a login in flight
    acme_sso.enabled = False
    acme_sso.save()
    sso_provider_sync(provider=acme_sso)
    assert not SocialApp.objects.filter(provider_id=acme_sso.provider_id).exists()
    assert "Acme Okta" not in Client().get("/accounts/login/").content.decode()
    assert (
        client.post(f"/accounts/oidc/{acme_sso.provider_id}/login/", {"process": "login"}).status_code == 404
    )

    callback = f"/accounts/oidc/{acme_sso.provider_id}/login/callback/"
    assert client.get(callback, {"code": "any", "state": "any"}).status_code == 404
    assert not is_signed_in(client)


def test_groups_claim_name_is_configurable(acme, idp, acme_sso):
    acme_sso.groups_claim = "cavra_roles"
    acme_sso.save()
    idp.user = IdpUser(
        sub="okta|10",
        email="ivan@acme.test",
        claims={"groups": ["acme-admins"], "cavra_roles": ["acme-auditors"]},
    )
    client = Client()
    assert sso_sign_in(client, idp, acme_sso).status_code == 302
    assert me(client)["roles"] == [Role.AUDITOR]


def test_groups_are_read_from_userinfo_then_the_id_token():
    assert idp_groups_from_claims({"userinfo": {"g": ["a", "b"]}, "id_token": {"g": ["c"]}}, claim="g") == [
        "a",
        "b",
    ]
    assert idp_groups_from_claims({"userinfo": {"sub": "1"}, "id_token": {"g": ["c"]}}, claim="g") == ["c"]
    assert idp_groups_from_claims({"userinfo": {"g": "solo"}}, claim="g") == ["solo"]
    assert idp_groups_from_claims({"userinfo": {"g": {"not": "a list"}}}, claim="g") == []
    assert idp_groups_from_claims({"groups": ["legacy"]}, claim="groups") == ["legacy"]
    assert idp_groups_from_claims({}, claim="groups") == []


def test_tenant_admin_configures_provider_in_the_admin_and_the_secret_stays_hidden(
    acme, idp, member, client_as
):
    admin = client_as(member(acme, Role.TENANT_ADMIN, email="it@acme.test"), acme)
    response = admin.post(
        "/admin/tenants/ssoprovider/add/",
        {
            "name": "Acme Login",
            "issuer_url": idp.issuer,
            "client_id": idp.client_id,
            "client_secret": idp.client_secret,
            "email_domains": "acme.test",
            "groups_claim": "groups",
            "scopes": "openid email profile",
            "jit_provisioning": "on",
            "enabled": "on",
            "provider_id": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    provider = SsoProvider.objects.get(tenant=acme, name="Acme Login")
    assert provider.provider_id == "acme-acme-login"
    app = SocialApp.objects.get(provider="openid_connect", provider_id=provider.provider_id)
    # allauth's table never holds the secret; ours holds only its Fernet token.
    assert (app.client_id, app.secret, app.settings["server_url"]) == (idp.client_id, "", idp.issuer)
    assert idp.client_secret not in provider.client_secret_encrypted
    assert secret_decrypt(provider.client_secret_encrypted) == idp.client_secret

    change_url = f"/admin/tenants/ssoprovider/{provider.pk}/change/"
    assert idp.client_secret not in admin.get(change_url).content.decode()
    form = {
        "name": "Acme Login",
        "issuer_url": idp.issuer,
        "client_id": idp.client_id,
        "client_secret": "",
        "email_domains": "acme.test",
        "groups_claim": "groups",
        "scopes": "openid email profile",
        "jit_provisioning": "on",
        "provider_id": provider.provider_id,
    }
    assert admin.post(change_url, {**form, "enabled": "on"}).status_code == 302
    provider.refresh_from_db()
    assert secret_decrypt(provider.client_secret_encrypted) == idp.client_secret  # kept
    assert all(
        idp.client_secret not in str(entry.before) + str(entry.after) for entry in AuditEntry.objects.all()
    )

    assert admin.post(change_url, form).status_code == 302  # "enabled" unticked
    assert not SocialApp.objects.filter(pk=app.pk).exists()
    assert admin.post(change_url, {**form, "enabled": "on"}).status_code == 302
    app = SocialApp.objects.get(provider_id=provider.provider_id)

    idp.user = IdpUser(sub="okta|11", email="judy@acme.test", claims={"groups": []})
    assert sso_sign_in(Client(), idp, provider).status_code == 302

    assert admin.post(f"/admin/tenants/ssoprovider/{provider.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not SsoProvider.objects.filter(pk=provider.pk).exists()
    assert not SocialApp.objects.filter(pk=app.pk).exists()


def test_one_email_domain_routes_to_one_provider(acme, globex, idp, acme_sso):
    from django.core.exceptions import ValidationError

    other = SsoProvider(
        tenant=globex, name="Globex", issuer_url=idp.issuer, client_id="g", email_domains="acme.test"
    )
    with pytest.raises(ValidationError) as exc:
        other.full_clean()
    assert "email_domains" in exc.value.message_dict
