"""SSO self-service: a tenant admin configures, tests, enables and requires OIDC sign-in and edits
group -> role mappings on the page, end to end against a local OIDC provider on 127.0.0.1."""

from __future__ import annotations

import socket

import pytest
from allauth.socialaccount.models import SocialApp
from django.test import Client

from core.roles import Role
from core.secrets import secret_decrypt
from tenants.models import AuditEntry, RoleMapping, SsoProvider, User
from tests.factories import PASSWORD
from tests.support.oidc_provider import IdpUser, OidcProvider
from tests.tenants.test_sso import me, sso_sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def idp():
    with OidcProvider(client_id="cavra-acme", client_secret="acme-page-secret") as provider:
        yield provider


@pytest.fixture
def admin_user(acme, member):
    return member(acme, Role.TENANT_ADMIN, email="it@acme.test")


@pytest.fixture
def admin(admin_user, client_as, acme):
    return client_as(admin_user, acme)


def settings_form(idp: OidcProvider, **overrides) -> dict:
    return {
        "name": "Acme Okta",
        "issuer_url": idp.issuer,
        "client_id": idp.client_id,
        "client_secret": idp.client_secret,
        "scopes": "openid email profile groups",
        "groups_claim": "groups",
        "email_domains": "acme.test",
        "provider_id": "",
        "jit_provisioning": "on",
        **overrides,
    }


def configure(admin: Client, idp: OidcProvider, **overrides) -> SsoProvider:
    response = admin.post("/tenants/sso/", settings_form(idp, **overrides))
    assert response.status_code == 302, response.content.decode()[:3000]
    return SsoProvider.objects.get(tenant__slug="acme")


def set_state(admin: Client, **data):
    return admin.post("/tenants/sso/state/", data)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_admin_configures_provider_on_the_page_secret_encrypted_and_redirect_uri_shown(acme, idp, admin):
    provider = configure(admin, idp)
    assert provider.enabled is False  # enabled on purpose, after a test
    assert provider.provider_id == "acme-acme-okta"
    assert secret_decrypt(provider.client_secret_encrypted) == idp.client_secret
    assert idp.client_secret not in provider.client_secret_encrypted

    page = admin.get("/tenants/sso/").content.decode()
    assert "http://testserver/accounts/oidc/acme-acme-okta/login/callback/" in page
    assert "/accounts/oidc//" not in page
    assert idp.client_secret not in page
    created = AuditEntry.objects.get(tenant=acme, action="sso.provider_create")
    assert (
        created.after["client_secret"] == "set" and created.after["scopes"] == "openid email profile groups"
    )
    assert idp.client_secret not in str(created.after)

    # Changing a setting without a secret keeps the secret; the change is audited with before/after.
    configure(admin, idp, client_secret="", groups_claim="roles")
    provider.refresh_from_db()
    assert provider.groups_claim == "roles"
    assert secret_decrypt(provider.client_secret_encrypted) == idp.client_secret
    change = AuditEntry.objects.get(tenant=acme, action="sso.provider_change")
    assert (change.before["groups_claim"], change.after["groups_claim"]) == ("groups", "roles")


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("issuer_url", "login.example.com", "http(s) URL"),
        ("issuer_url", "https://idp.example.com/?tenant=1", "no query string"),
        ("client_id", "", "required"),
        ("client_secret", "", "client secret"),
        ("scopes", "email profile", "must include openid"),
        ("scopes", 'openid "bad"', "Not a valid scope"),
        ("email_domains", "", "at least one e-mail domain"),
        ("email_domains", "acme.test, not a domain", "Not an e-mail domain"),
        ("groups_claim", "", "required"),
        ("provider_id", "Bad Id!", "lowercase"),
        ("name", "x" * 121, "At most 120"),
    ],
)
def test_bad_settings_answer_422_naming_the_field_and_change_nothing(acme, idp, admin, field, value, words):
    response = admin.post("/tenants/sso/", settings_form(idp, **{field: value}), HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    body = response.content.decode()
    assert f'id="{field}-error"' in body and words in body
    assert not SsoProvider.objects.filter(tenant=acme).exists()
    assert not AuditEntry.objects.filter(tenant=acme, action__startswith="sso.").exists()


def test_connection_test_reports_success_and_failures_in_words(idp, admin):
    ok = admin.post("/tenants/sso/test/", {"issuer_url": idp.issuer}, HTTP_HX_REQUEST="true")
    assert ok.status_code == 200
    assert "Connection works" in ok.content.decode() and "1 signing key(s) published" in ok.content.decode()
    assert ("GET", "/.well-known/openid-configuration") in idp.requests and ("GET", "/jwks") in idp.requests

    nobody = f"http://127.0.0.1:{free_port()}"
    down = admin.post("/tenants/sso/test/", {"issuer_url": nobody}, HTTP_HX_REQUEST="true").content.decode()
    assert "Connection failed" in down and "could not connect" in down

    wrong_issuer = admin.post("/tenants/sso/test/", {"issuer_url": f"{idp.issuer}/"}, HTTP_HX_REQUEST="true")
    assert "Connection works" in wrong_issuer.content.decode()  # a trailing slash is the same issuer
    idp.discovery_override = {"issuer": "https://someone-else.example"}
    mismatch = admin.post(
        "/tenants/sso/test/", {"issuer_url": idp.issuer}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "calls itself" in mismatch and "someone-else" in mismatch

    idp.discovery_override = {"jwks_uri": f"{idp.issuer}/no-such-jwks"}
    no_keys = admin.post(
        "/tenants/sso/test/", {"issuer_url": idp.issuer}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "answered HTTP 404" in no_keys

    empty = admin.post("/tenants/sso/test/", {"issuer_url": ""}, HTTP_HX_REQUEST="true")
    assert empty.status_code == 422 and "Give the issuer URL to test" in empty.content.decode()


def test_enable_then_sign_in_through_the_page_configured_provider(acme, idp, admin):
    provider = configure(admin, idp)
    for group, role in [("acme-secops", Role.SECURITY_REVIEWER), ("acme-ops", Role.OPERATOR)]:
        RoleMapping.objects.create(tenant=acme, idp_group=group, role=role)
    assert set_state(admin, enabled="on").status_code == 302
    provider.refresh_from_db()
    assert provider.enabled
    app = SocialApp.objects.get(provider_id=provider.provider_id)
    assert app.secret == "" and app.settings["scope"] == ["openid", "email", "profile", "groups"]
    assert AuditEntry.objects.get(tenant=acme, action="sso.state_change").after["enabled"] is True

    idp.user = IdpUser(sub="okta|7", email="dana@acme.test", claims={"groups": ["acme-secops", "acme-ops"]})
    client = Client()
    assert sso_sign_in(client, idp, provider).status_code == 302
    assert me(client)["roles"] == [Role.OPERATOR, Role.SECURITY_REVIEWER]


def test_require_sso_keeps_password_only_for_the_break_glass_admin(acme, idp, admin, admin_user, member):
    configure(admin, idp)
    other_admin = member(acme, Role.TENANT_ADMIN, email="ops-lead@acme.test")
    auditor = member(acme, Role.AUDITOR, email="audit@acme.test")
    outsider = member(acme, Role.AUDITOR, email="contractor@elsewhere.test")

    # Requiring without enabling, or without a break-glass admin, or naming a non-admin: refused by field.
    for data, field, words in [
        ({"enforce_sso": "on", "break_glass_email": admin_user.email}, "enforce_sso", "Enable sign-in"),
        ({"enabled": "on", "enforce_sso": "on"}, "break_glass_email", "Name the tenant admin"),
        (
            {"enabled": "on", "enforce_sso": "on", "break_glass_email": auditor.email},
            "break_glass_email",
            "not a tenant admin",
        ),
    ]:
        response = set_state(admin, **data, HTTP_HX_REQUEST="true")
        assert response.status_code == 422 and words in response.content.decode(), field
    assert not SsoProvider.objects.get(tenant=acme).enabled

    response = set_state(admin, enabled="on", enforce_sso="on", break_glass_email=admin_user.email)
    assert response.status_code == 302
    assert "required — password sign-in only for it@acme.test" in admin.get("/tenants/sso/").content.decode()

    def password_sign_in(email: str):
        return Client().post("/accounts/login/", {"login": email, "password": PASSWORD})

    refused = password_sign_in(auditor.email)
    assert refused.status_code == 200 and "acme.test signs in with Acme Okta" in refused.content.decode()
    assert password_sign_in(other_admin.email).status_code == 200  # admins too, but the named one
    assert password_sign_in(admin_user.email).status_code == 302  # break-glass
    assert password_sign_in(outsider.email).status_code == 302  # a domain the provider does not serve

    # Turning the requirement off gives passwords back.
    assert set_state(admin, enabled="on").status_code == 302
    assert password_sign_in(auditor.email).status_code == 302


def test_without_jit_provisioning_only_invited_members_sign_in(acme, idp, admin, member):
    provider = configure(admin, idp, jit_provisioning="")
    RoleMapping.objects.create(tenant=acme, idp_group="acme-ops", role=Role.OPERATOR)
    set_state(admin, enabled="on")
    provider.refresh_from_db()
    assert provider.jit_provisioning is False

    idp.user = IdpUser(sub="okta|new", email="newcomer@acme.test", claims={"groups": ["acme-ops"]})
    client = Client()
    sso_sign_in(client, idp, provider)
    assert client.get("/api/v1/me").status_code in (401, 403)
    assert not User.objects.filter(email="newcomer@acme.test").exists()

    invited = member(acme, Role.AUDITOR, email="invited@acme.test")
    idp.user = IdpUser(sub="okta|inv", email=invited.email, claims={"groups": ["acme-ops"]})
    client = Client()
    assert sso_sign_in(client, idp, provider).status_code == 302
    assert me(client)["roles"] == [Role.OPERATOR]


def test_mappings_edited_on_the_page_with_a_preview_and_applied_at_next_sign_in(acme, idp, admin):
    provider = configure(admin, idp)
    set_state(admin, enabled="on")
    assert (
        admin.post(
            "/tenants/sso/mappings/",
            {"mappings": "acme-secops = security_reviewer\nacme-ops = Operator", "save": "1"},
        ).status_code
        == 302
    )
    assert sorted(RoleMapping.objects.filter(tenant=acme).values_list("idp_group", "role")) == [
        ("acme-ops", "operator"),
        ("acme-secops", "security_reviewer"),
    ]
    idp.user = IdpUser(sub="okta|d", email="dana@acme.test", claims={"groups": ["acme-secops", "acme-ops"]})
    dana = Client()
    sso_sign_in(dana, idp, provider)
    assert me(dana)["roles"] == [Role.OPERATOR, Role.SECURITY_REVIEWER]

    # Preview: dropping acme-ops and mapping acme-secops to auditor too.
    proposed = "acme-secops = security_reviewer\nacme-secops = auditor\n# ops moved to another tool"
    preview = admin.post(
        "/tenants/sso/mappings/", {"mappings": proposed, "preview": "1"}, HTTP_HX_REQUEST="true"
    )
    assert preview.status_code == 200
    body = preview.content.decode()
    assert 'data-testid="mappings-preview"' in body and "dana@acme.test" in body
    assert '<span class="badge badge-allow">auditor</span>' in body
    assert '<span class="badge badge-block">operator</span>' in body
    assert RoleMapping.objects.filter(tenant=acme, idp_group="acme-ops").exists()  # preview changes nothing

    assert admin.post("/tenants/sso/mappings/", {"mappings": proposed, "save": "1"}).status_code == 302
    entry = AuditEntry.objects.get(
        tenant=acme, action="sso.role_mappings_change", after__mappings__contains=["acme-secops = auditor"]
    )
    assert "acme-ops = operator" in entry.before["mappings"]
    # A removed group removes the role at the next sign-in.
    dana = Client()
    sso_sign_in(dana, idp, provider)
    assert me(dana)["roles"] == [Role.AUDITOR, Role.SECURITY_REVIEWER]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("acme-ops operator", "Line 1: write it as"),
        ("ok = auditor\nacme-ops = wizard", "Line 2: unknown role &#x27;wizard&#x27;"),
        (" = auditor", "Line 1: write it as"),
        (f"{'g' * 201} = auditor", "over 200 characters"),
    ],
)
def test_bad_mappings_answer_422_naming_the_line_and_change_nothing(acme, admin, text, words):
    RoleMapping.objects.create(tenant=acme, idp_group="keep", role=Role.AUDITOR)
    response = admin.post("/tenants/sso/mappings/", {"mappings": text, "save": "1"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert 'id="mappings-error"' in response.content.decode() and words in response.content.decode()
    assert list(RoleMapping.objects.filter(tenant=acme).values_list("idp_group", flat=True)) == ["keep"]
