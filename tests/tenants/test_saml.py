"""SAML 2.0 sign-in, end to end: a test IdP (own key, self-signed certificate, metadata on 127.0.0.1)
signs Responses with xmlsec; they are POSTed to the portal's real ACS through Django's test client."""

from __future__ import annotations

import datetime as dt

import pytest
from allauth.socialaccount.models import SocialAccount, SocialApp
from django.test import Client

from core.roles import Role
from tenants.models import AuditEntry, Membership, RoleMapping, SsoProvider, User
from tenants.saml_config import saml_provider_save
from tenants.sso_config import sso_provider_set_state
from tests.support.saml_idp import SamlIdp

pytestmark = pytest.mark.django_db


@pytest.fixture
def idp():
    with SamlIdp("https://idp.acme.test/saml") as provider:
        yield provider


@pytest.fixture
def acme_admin(acme, member):
    return member(acme, Role.TENANT_ADMIN, email="root@acme.test")


def configure(tenant, actor, idp: SamlIdp, *, domains: str, by_url: bool = False, **extra) -> SsoProvider:
    """The tenant's SAML provider through the service, enabled, with group -> role mappings."""
    source = (
        {"metadata_url": idp.metadata_url, "metadata_xml": ""}
        if by_url
        else {
            "metadata_url": "",
            "metadata_xml": idp.metadata(),
        }
    )
    fields = {
        "name": f"{tenant.name} SAML",
        "idp_entity_id": idp.entity_id,
        "sp_entity_id": "",
        "groups_attribute": "groups",
        "email_attribute": "",
        "first_name_attribute": "",
        "last_name_attribute": "",
        "email_domains": domains,
        "jit_provisioning": True,
        **source,
        **extra,
    }
    provider = saml_provider_save(tenant=tenant, actor=actor, **fields)
    provider = sso_provider_set_state(provider=provider, actor=actor, enabled=True, enforce_sso=False)
    for group, role in [(f"{tenant.slug}-ops", Role.OPERATOR), (f"{tenant.slug}-audit", Role.AUDITOR)]:
        RoleMapping.objects.get_or_create(tenant=tenant, idp_group=group, role=role)
    return provider


@pytest.fixture
def acme_saml(acme, acme_admin, idp) -> SsoProvider:
    return configure(acme, acme_admin, idp, domains="acme.test")


HOST = "portal.example.test"  # python3-saml refuses single-label hosts such as "testserver"


@pytest.fixture(autouse=True)
def _portal_host(settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, HOST]


def browser() -> Client:
    """A browser always sends Host (python3-saml builds the URLs it checks from it)."""
    return Client(HTTP_HOST=HOST)


def start(client: Client, provider: SsoProvider) -> str:
    """Press "Sign in with …": the portal redirects to the IdP with an AuthnRequest; its ID."""
    response = client.post(f"/accounts/saml/{provider.provider_id}/login/", {"process": "login"})
    assert response.status_code == 302, response.content[:500]
    assert response["Location"].startswith("https://idp.invalid/sso?SAMLRequest=")
    return SamlIdp.request_id(response["Location"])


def acs_urls(provider: SsoProvider) -> tuple[str, str]:
    acs = f"http://{HOST}/accounts/saml/{provider.provider_id}/acs/"
    return acs, f"http://{HOST}/accounts/saml/{provider.provider_id}/metadata/"


def post_to_acs(client: Client, provider: SsoProvider, saml_response: str):
    """The browser's auto-submitted form to the ACS, then allauth's redirect to its finish step."""
    acs, _ = acs_urls(provider)
    posted = client.post(acs, {"SAMLResponse": saml_response})
    assert posted.status_code == 302 and posted["Location"].endswith("/acs/finish/"), posted
    return client.get(posted["Location"])


def sign_in(client: Client, provider: SsoProvider, idp: SamlIdp, *, email: str, groups: list[str], **kw):
    request_id = start(client, provider)
    acs, audience = acs_urls(provider)
    kw.setdefault("in_response_to", request_id)
    kw.setdefault("audience", audience)
    return post_to_acs(client, provider, idp.response(acs_url=acs, email=email, groups=groups, **kw))


def signed_in_as(client: Client) -> str | None:
    response = client.get("/api/v1/me")
    return response.json()["email"] if response.status_code == 200 else None


def roles_of(tenant, email: str) -> set[str]:
    return set(Membership.objects.get(tenant=tenant, user__email=email).roles)


def test_valid_response_signs_in_with_mapped_roles_and_a_removed_group_removes_the_role(acme, idp, acme_saml):
    client = browser()
    done = sign_in(client, acme_saml, idp, email="ada@acme.test", groups=["acme-ops", "acme-audit", "other"])
    assert done.status_code == 302, done.content[:800]
    assert signed_in_as(client) == "ada@acme.test"
    assert roles_of(acme, "ada@acme.test") == {Role.OPERATOR, Role.AUDITOR}
    account = SocialAccount.objects.get(user__email="ada@acme.test")
    assert account.provider == acme_saml.provider_id and account.uid == "ada@acme.test"
    assert account.extra_data["groups"] == ["acme-ops", "acme-audit", "other"]
    assert AuditEntry.objects.filter(
        tenant=acme, action="signin.succeeded", after__method=f"sso:{acme_saml.provider_id}"
    ).exists()

    # The IdP drops acme-audit: the role goes at the next sign-in.
    client = browser()
    assert sign_in(client, acme_saml, idp, email="ada@acme.test", groups=["acme-ops"]).status_code == 302
    assert roles_of(acme, "ada@acme.test") == {Role.OPERATOR}
    assert User.objects.filter(email="ada@acme.test").count() == 1


def test_existing_member_is_signed_in_to_their_account(acme, idp, acme_saml, member):
    existing = member(acme, Role.AUDITOR, email="bob@acme.test")
    client = browser()
    assert sign_in(client, acme_saml, idp, email="Bob@acme.test", groups=["acme-ops"]).status_code == 302
    assert signed_in_as(client) == "bob@acme.test"
    assert SocialAccount.objects.get(provider=acme_saml.provider_id).user == existing
    assert roles_of(acme, "bob@acme.test") == {Role.OPERATOR}


def _refused(response, client: Client, words: str) -> None:
    assert response.status_code == 403, response.content[:800]
    assert words in response.content.decode(), response.content.decode()[:2000]
    assert signed_in_as(client) is None
    assert not SocialAccount.objects.exists()
    assert not User.objects.filter(email="eve@acme.test").exists()


def test_bad_signature_is_refused(idp, acme_saml):
    client = browser()
    response = sign_in(
        client, acme_saml, idp, email="eve@acme.test", groups=["acme-ops"], tamper={"acme-ops": "acme-audit"}
    )
    _refused(response, client, "not signed by a certificate in the IdP")


def test_unsigned_response_is_refused(idp, acme_saml):
    client = browser()
    response = sign_in(client, acme_saml, idp, email="eve@acme.test", groups=["acme-ops"], signed=False)
    _refused(response, client, "The response is not signed")


def test_wrong_audience_is_refused(idp, acme_saml):
    client = browser()
    response = sign_in(
        client, acme_saml, idp, email="eve@acme.test", groups=[], audience="https://other-sp.example/"
    )
    _refused(response, client, "meant for another service provider")


def test_expired_assertion_is_refused(idp, acme_saml):
    client = browser()
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    response = sign_in(client, acme_saml, idp, email="eve@acme.test", groups=[], not_on_or_after=past)
    _refused(response, client, "expired")


def test_unsolicited_response_is_refused(idp, acme_saml):
    client = browser()
    acs, audience = acs_urls(acme_saml)
    response = post_to_acs(
        client, acme_saml, idp.response(acs_url=acs, audience=audience, email="eve@acme.test")
    )
    _refused(response, client, "refuses responses it did not ask for")


def test_response_to_another_request_is_refused(idp, acme_saml):
    client = browser()
    start(client, acme_saml)
    response = sign_in(client, acme_saml, idp, email="eve@acme.test", groups=[], in_response_to="_not-asked")
    _refused(response, client, "answers no sign-in the portal started")


def test_another_tenants_idp_is_refused(acme, globex, idp, acme_saml, member):
    globex_admin = member(globex, Role.TENANT_ADMIN, email="root@globex.test")
    with SamlIdp("https://idp.globex.test/saml") as globex_idp:
        globex_saml = configure(globex, globex_admin, globex_idp, domains="globex.test")
        # Globex's IdP signs a response for Acme's SP: its key is not in Acme's metadata.
        client = browser()
        response = sign_in(
            client, acme_saml, idp, email="eve@acme.test", groups=["acme-ops"], sign_with=globex_idp.key
        )
        _refused(response, client, "not signed by a certificate in the IdP")
        # Globex's IdP, at its own ACS, asserts an Acme address: its tenant does not route acme.test to it.
        client = browser()
        response = sign_in(client, globex_saml, globex_idp, email="eve@acme.test", groups=["globex-ops"])
        assert response.status_code == 403
        assert "does not serve that e-mail domain" in response.content.decode(), response.content.decode()[
            -1500:
        ]
        assert signed_in_as(client) is None
        assert not Membership.objects.filter(user__email="eve@acme.test").exists()


def test_without_jit_only_members_sign_in(acme, idp, acme_admin, member):
    provider = configure(acme, acme_admin, idp, domains="acme.test", jit_provisioning=False)
    client = browser()
    response = sign_in(client, provider, idp, email="eve@acme.test", groups=["acme-ops"])
    assert response.status_code == 403 and "ask a tenant admin for an invitation" in response.content.decode()
    assert signed_in_as(client) is None and not User.objects.filter(email="eve@acme.test").exists()
    member(acme, Role.AUDITOR, email="carol@acme.test")
    client = browser()
    assert sign_in(client, provider, idp, email="carol@acme.test", groups=["acme-audit"]).status_code == 302
    assert signed_in_as(client) == "carol@acme.test"


def test_metadata_url_configuration_signs_in_and_sp_metadata_is_served(acme, idp, acme_admin):
    provider = configure(
        acme, acme_admin, idp, domains="acme.test", by_url=True, sp_entity_id="urn:cavra:acme"
    )
    app = SocialApp.objects.get(pk=provider.social_app_id)
    assert app.provider == "saml" and app.client_id == provider.provider_id
    assert app.settings["idp"] == {"entity_id": idp.entity_id, "metadata_url": idp.metadata_url}
    metadata = browser().get(f"/accounts/saml/{provider.provider_id}/metadata/")
    assert metadata.status_code == 200
    body = metadata.content.decode()
    assert 'entityID="urn:cavra:acme"' in body
    assert f'Location="http://{HOST}/accounts/saml/{provider.provider_id}/acs/"' in body
    client = browser()
    done = sign_in(
        client, provider, idp, email="dan@acme.test", groups=["acme-ops"], audience="urn:cavra:acme"
    )
    assert done.status_code == 302 and signed_in_as(client) == "dan@acme.test"


def test_disabled_provider_has_no_acs(acme, idp, acme_admin, acme_saml):
    sso_provider_set_state(provider=acme_saml, actor=acme_admin, enabled=False, enforce_sso=False)
    assert browser().get(f"/accounts/saml/{acme_saml.provider_id}/metadata/").status_code == 404
