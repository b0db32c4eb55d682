"""SAML self-service on the SSO page and through the API: metadata checked in words, fields named on
bad input, the SP URLs ready to copy, enable/require with the break-glass rule, evidence of each change,
and nothing for another tenant or another role."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from core.roles import Role
from evidence.models import EvidenceRecord
from tenants.models import AuditEntry, SsoProvider
from tenants.saml_config import saml_connection_test
from tenants.sso_config import password_signin_refusal
from tests.support.clients import logged_in
from tests.support.saml_idp import SamlIdp

pytestmark = pytest.mark.django_db

ENTITY = "https://idp.acme.test/saml"


@pytest.fixture
def idp():
    with SamlIdp(ENTITY) as provider:
        yield provider


@pytest.fixture
def admin(acme, member):
    return member(acme, Role.TENANT_ADMIN, email="root@acme.test")


@pytest.fixture
def api(acme, admin):
    return logged_in(admin, acme, client_class=APIClient)


def body(idp: SamlIdp, **extra) -> dict:
    return {
        "name": "Acme Entra",
        "metadata_url": idp.metadata_url,
        "idp_entity_id": ENTITY,
        "groups_attribute": "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
        "email_domains": "acme.test",
        **extra,
    }


def steps(report) -> list[tuple[str, bool]]:
    return [(what, passed) for what, passed, _ in report.steps]


def test_connection_test_explains_each_failure_in_words(idp):
    ok = saml_connection_test(metadata_url=idp.metadata_url, entity_id=ENTITY)
    assert ok.ok and ok.error == ""
    assert steps(ok) == [("Metadata", True), ("Single sign-on URL", True), ("Signing certificate", True)]

    unreachable = saml_connection_test(metadata_url="http://127.0.0.1:9/metadata.xml", entity_id=ENTITY)
    assert not unreachable.ok and "unreachable" in unreachable.error

    idp.served["/missing.xml"] = (404, "text/plain", b"nope")
    assert (
        "answered HTTP 404"
        in saml_connection_test(metadata_url=f"{idp.base_url}/missing.xml", entity_id=ENTITY).error
    )

    idp.served["/page.html"] = (200, "text/html", b"<html><body>Sign in</body></html>")
    assert (
        "not SAML IdP metadata"
        in saml_connection_test(metadata_url=f"{idp.base_url}/page.html", entity_id=ENTITY).error
    )
    idp.served["/junk"] = (200, "text/plain", b"{'metadata': 1}")
    assert (
        "This is not XML" in saml_connection_test(metadata_url=f"{idp.base_url}/junk", entity_id=ENTITY).error
    )

    mismatch = saml_connection_test(metadata_xml=idp.metadata(), entity_id="https://other.example/idp")
    assert mismatch.error == (
        f"Entity id mismatch: the metadata describes {ENTITY}, not https://other.example/idp."
    )

    idp.with_cert = False
    assert (
        "No signing certificate" in saml_connection_test(metadata_xml=idp.metadata(), entity_id=ENTITY).error
    )

    expired = SamlIdp(ENTITY, cert_days=-1)
    assert (
        "signing certificate expired on"
        in saml_connection_test(metadata_xml=expired.metadata(), entity_id=ENTITY).error
    )


def test_api_configures_shows_sp_urls_enables_and_audits(acme, idp, api, admin):
    assert api.get("/api/v1/sso/saml").status_code == 404
    put = api.put("/api/v1/sso/saml", body(idp), format="json")
    assert put.status_code == 200, put.content
    data = put.json()
    pid = data["provider_id"]
    assert data["acs_url"] == f"http://testserver/accounts/saml/{pid}/acs/"
    assert (
        data["sp_metadata_url"]
        == data["effective_sp_entity_id"]
        == f"http://testserver/accounts/saml/{pid}/metadata/"
    )
    assert (data["idp_sso_url"], data["idp_certificates"], data["enabled"]) == (idp.sso_url, 1, False)

    test = api.post("/api/v1/sso/saml/test", {}, format="json").json()
    assert test["ok"] is True and test["idp_entity_id"] == ENTITY

    state = api.post("/api/v1/sso/saml/state", {"enabled": True, "enforce_sso": True}, format="json")
    assert state.status_code == 400 and "break_glass_email" in state.json()["errors"], state.content
    state = api.post(
        "/api/v1/sso/saml/state",
        {"enabled": True, "enforce_sso": True, "break_glass_email": "root@acme.test"},
        format="json",
    )
    assert state.status_code == 200 and state.json()["enforce_sso"] is True
    assert password_signin_refusal("someone@acme.test").startswith("acme.test signs in with Acme Entra")
    assert password_signin_refusal("root@acme.test") == ""

    actions = set(AuditEntry.objects.filter(tenant=acme).values_list("action", flat=True))
    assert {"sso.saml_provider_create", "sso.state_change", "sso.app_sync"} <= actions
    assert EvidenceRecord.objects.filter(tenant=acme, kind="audit.sso.saml_provider_create").exists()

    change = api.put("/api/v1/sso/saml", body(idp, sp_entity_id="urn:cavra:acme"), format="json")
    assert change.json()["effective_sp_entity_id"] == "urn:cavra:acme"
    entry = AuditEntry.objects.get(tenant=acme, action="sso.saml_provider_change")
    assert (entry.before["sp_entity_id"], entry.after["sp_entity_id"]) == ("", "urn:cavra:acme")


@pytest.mark.parametrize(
    "change, field, words",
    [
        ({"metadata_url": ""}, "metadata_url", "Give the IdP metadata URL or paste"),
        ({"metadata_url": "ftp://idp/x"}, "metadata_url", "http(s) URL"),
        ({"metadata_url": "http://127.0.0.1:9/m.xml"}, "metadata_url", "unreachable"),
        ({"idp_entity_id": "https://wrong.example"}, "idp_entity_id", "Entity id mismatch"),
        ({"idp_entity_id": ""}, "idp_entity_id", "required"),
        ({"metadata_xml": "not xml"}, "metadata_xml", "not XML"),
        ({"email_domains": "not a domain"}, "email_domains", "Not an e-mail domain"),
        ({"groups_attribute": ""}, "groups_attribute", "required"),
    ],
)
def test_api_bad_input_is_400_naming_the_field(acme, idp, api, change, field, words):
    response = api.put("/api/v1/sso/saml", body(idp, **change), format="json")
    assert response.status_code == 400, response.content
    assert words in response.json()["errors"][field][0]
    assert not SsoProvider.objects.filter(tenant=acme).exists()


def test_enabling_needs_a_saved_provider(api):
    assert api.post("/api/v1/sso/saml/state", {"enabled": True}, format="json").status_code == 404


def test_page_saves_shows_urls_to_copy_tests_and_enables(acme, idp, admin, client_as):
    client = client_as(admin, acme)
    form = {f"saml-{k}": v for k, v in body(idp).items()}
    bad = client.post(
        "/tenants/sso/saml/", {**form, "saml-idp_entity_id": "https://wrong.example"}, HTTP_HX_REQUEST="true"
    )
    assert bad.status_code == 422 and "Entity id mismatch" in bad.content.decode()
    assert client.post("/tenants/sso/saml/", form).status_code == 302
    page = client.get("/tenants/sso/").content.decode()
    provider = SsoProvider.objects.get(tenant=acme, protocol="saml")
    for testid, url in [
        ("saml-acs-url", f"http://testserver/accounts/saml/{provider.provider_id}/acs/"),
        ("saml-sp-entity-id", f"http://testserver/accounts/saml/{provider.provider_id}/metadata/"),
        ("saml-sp-metadata-url", f"http://testserver/accounts/saml/{provider.provider_id}/metadata/"),
    ]:
        assert f'data-testid="{testid}">{url}</code>' in page
    assert 'data-copy="#saml-acs-url"' in page
    tested = client.post(
        "/tenants/sso/saml/test/", {"saml-metadata_url": "http://127.0.0.1:9/x.xml"}, HTTP_HX_REQUEST="true"
    )
    assert tested.status_code == 200 and "Metadata not usable" in tested.content.decode()
    assert "unreachable" in tested.content.decode()
    enabled = client.post("/tenants/sso/state/", {"protocol": "saml", "enabled": "on"})
    assert enabled.status_code == 302
    provider.refresh_from_db()
    assert provider.enabled and not provider.enforce_sso


def test_other_tenant_and_other_roles_are_refused(acme, globex, idp, admin, member, client_as):
    SsoProvider.objects.create(
        tenant=acme, protocol="saml", name="Acme SAML", provider_id="acme-saml", email_domains="acme.test"
    )
    outsider = member(globex, Role.TENANT_ADMIN, email="root@globex.test")
    reviewer = member(acme, *[r for r in Role.values if r != Role.TENANT_ADMIN], email="rev@acme.test")
    for user, tenant in [(reviewer, acme)]:
        client = client_as(user, tenant)
        assert client.post("/tenants/sso/saml/", {"saml-name": "x"}).status_code == 403
        assert client.get("/api/v1/sso/saml").status_code == 403
        assert (
            client.post(
                "/api/v1/sso/saml/state", {"enabled": True}, content_type="application/json"
            ).status_code
            == 403
        )
    # Globex's admin works on Globex: Acme's provider is exactly as absent as a missing one.
    client = client_as(outsider, globex)
    assert client.get("/api/v1/sso/saml").status_code == 404
    assert (
        client.post("/api/v1/sso/saml/state", {"enabled": True}, content_type="application/json").status_code
        == 404
    )
    assert SsoProvider.objects.get(provider_id="acme-saml").enabled is True  # the model default, untouched
