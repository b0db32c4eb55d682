"""MFA (allauth.mfa) under the tenant's "MFA required for roles" policy: TOTP enrolment and sign-in with
codes computed here from the secret, the grant check, the members page status and the admin's reset."""

from __future__ import annotations

import time

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY, format_hotp_value, hotp_value
from django.core.cache import cache
from django.test import Client

from core.roles import Role
from tenants.models import AuditEntry, Membership
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def totp(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def password_sign_in(email: str) -> Client:
    client = Client()
    response = client.post("/accounts/login/", {"login": email, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:2000]
    return client


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()  # allauth remembers used TOTP codes in the cache
    yield


def enrol_totp(client: Client) -> str:
    # allauth asks for the password again before a new authenticator is added (a stolen session
    # must not be able to enrol the thief's phone).
    ask = client.get("/accounts/2fa/totp/activate/")
    assert ask.status_code == 302 and ask["Location"].startswith("/accounts/reauthenticate/")
    assert client.post("/accounts/reauthenticate/", {"password": PASSWORD}).status_code == 302
    page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200, page.status_code
    secret = client.session[SECRET_SESSION_KEY]
    assert secret in page.content.decode()  # shown for apps that cannot scan the QR code
    wrong = client.post(
        "/accounts/2fa/totp/activate/", {"code": "000000" if totp(secret) != "000000" else "111111"}
    )
    assert wrong.status_code == 200 and "Incorrect code" in wrong.content.decode()
    done = client.post("/accounts/2fa/totp/activate/", {"code": totp(secret)})
    assert done.status_code == 302
    return secret


def test_policy_sends_the_role_to_enrolment_then_password_sign_in_asks_for_the_code(acme, member, client_as):
    admin = member(acme, Role.TENANT_ADMIN, email="boss@acme.test")
    auditor = member(acme, Role.AUDITOR, email="reader@acme.test")
    page = client_as(admin, acme)
    assert (
        page.post("/tenants/members/mfa-policy/", {"mfa_required_roles": ["tenant_admin"]}).status_code == 302
    )
    acme.refresh_from_db()
    assert acme.mfa_required_roles == ["tenant_admin"]
    entry = AuditEntry.objects.get(tenant=acme, action="mfa.policy_change")
    assert (entry.before, entry.after) == (
        {"mfa_required_roles": []},
        {"mfa_required_roles": ["tenant_admin"]},
    )

    # The auditor is not covered; the admin is sent to enrolment before any page.
    assert password_sign_in(auditor.email).get("/").status_code == 200
    client = password_sign_in(admin.email)
    blocked = client.get("/tenants/members/")
    assert blocked.status_code == 302 and blocked["Location"] == "/accounts/2fa/totp/activate/"
    secret = enrol_totp(client)
    assert client.get("/tenants/members/").status_code == 200
    assert Authenticator.objects.filter(user=admin, type="totp").exists()

    # Next sign-in: the password alone is not enough; a wrong code is refused, the right one admits once.
    second = Client()
    step = second.post("/accounts/login/", {"login": admin.email, "password": PASSWORD})
    assert step.status_code == 302 and step["Location"] == "/accounts/2fa/authenticate/"
    assert second.get("/api/v1/me").status_code in (401, 403)
    code = totp(secret)
    bad = f"{(int(code) + 1) % 1_000_000:06d}"
    assert "Incorrect code" in second.post("/accounts/2fa/authenticate/", {"code": bad}).content.decode()
    assert second.post("/accounts/2fa/authenticate/", {"code": code}).status_code == 302
    assert second.get("/api/v1/me").json()["email"] == admin.email
    # The same code cannot be replayed in another sign-in.
    third = Client()
    third.post("/accounts/login/", {"login": admin.email, "password": PASSWORD})
    assert "Incorrect code" in third.post("/accounts/2fa/authenticate/", {"code": code}).content.decode()


def test_a_role_that_needs_mfa_is_not_granted_to_someone_without_it(acme, member, client_as):
    admin = member(acme, Role.TENANT_ADMIN, email="boss@acme.test")
    auditor = member(acme, Role.AUDITOR, email="reader@acme.test")
    acme.mfa_required_roles = [Role.SECURITY_REVIEWER]
    acme.save()
    page = client_as(admin, acme)
    mem = Membership.objects.get(tenant=acme, user=auditor)
    refused = page.post(
        f"/tenants/members/{mem.pk}/", {"roles": ["auditor", "security_reviewer"]}, HTTP_HX_REQUEST="true"
    )
    assert refused.status_code == 422
    assert "requires multi-factor authentication for Security reviewer" in refused.content.decode()
    assert mem.roles == [Role.AUDITOR]
    invite = page.post(
        "/tenants/members/",
        {"email": "new@acme.test", "roles": ["security_reviewer"]},
        HTTP_HX_REQUEST="true",
    )
    # An invitation may carry the role: whoever accepts it is sent to enrolment before any page.
    assert invite.status_code == 200 and not Membership.objects.filter(user__email="new@acme.test").exists()

    # Once the auditor has an authenticator app, the grant goes through.
    client = password_sign_in(auditor.email)
    enrol_totp(client)
    assert (
        page.post(f"/tenants/members/{mem.pk}/", {"roles": ["auditor", "security_reviewer"]}).status_code
        == 302
    )
    assert mem.roles == [Role.SECURITY_REVIEWER, Role.AUDITOR]


def test_admin_sees_who_is_enrolled_and_resets_a_members_mfa(acme, globex, member, client_as):
    admin = member(acme, Role.TENANT_ADMIN, email="boss@acme.test")
    dana = member(acme, Role.OPERATOR, email="dana@acme.test")
    enrol_totp(password_sign_in(dana.email))
    page = client_as(admin, acme)
    listing = page.get("/tenants/members/").content.decode()
    assert 'data-email="dana@acme.test"' in listing and "authenticator app" in listing
    mem = Membership.objects.get(tenant=acme, user=dana)
    reset = page.post(f"/tenants/members/{mem.pk}/mfa-reset/", HTTP_HX_REQUEST="true")
    assert reset.status_code == 200 and "not set up" in reset.content.decode()
    assert not Authenticator.objects.filter(user=dana).exists()
    entry = AuditEntry.objects.get(tenant=acme, action="mfa.reset")
    assert entry.before["authenticators"] == ["recovery_codes", "totp"]  # allauth adds recovery codes

    # Nothing left to reset: a 422 in words. A member of another tenant: only a platform admin resets.
    again = page.post(f"/tenants/members/{mem.pk}/mfa-reset/", HTTP_HX_REQUEST="true")
    assert again.status_code == 422 and "has no MFA to reset" in again.content.decode()
    member(globex, Role.AUDITOR, email="dana@acme.test")
    enrol_totp(password_sign_in(dana.email))
    shared = page.post(f"/tenants/members/{mem.pk}/mfa-reset/", HTTP_HX_REQUEST="true")
    assert shared.status_code == 422 and "also belongs to another tenant" in shared.content.decode()
    assert Authenticator.objects.filter(user=dana, type="totp").exists()


def test_bad_policy_input_is_422_naming_the_field_and_changes_nothing(acme, member, client_as):
    page = client_as(member(acme, Role.TENANT_ADMIN), acme)
    response = page.post(
        "/tenants/members/mfa-policy/", {"mfa_required_roles": ["wizard"]}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    assert (
        'id="mfa_required_roles-error"' in response.content.decode() and "wizard" in response.content.decode()
    )
    acme.refresh_from_db()
    assert acme.mfa_required_roles == []
