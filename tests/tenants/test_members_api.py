"""Members, invitations and MFA through the API: the same services as the page, 400 naming the field,
403 for a wrong role, 404 for another tenant's member or invitation."""

from __future__ import annotations

import json

import pytest
from allauth.mfa.models import Authenticator

from core.roles import Role
from tenants.models import AuditEntry, Invitation, Membership
from tests.factories import PersonalAccessTokenFactory
from tests.support.clients import bearer_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(acme, member):
    return member(acme, Role.TENANT_ADMIN, email="boss@acme.test")


@pytest.fixture
def api(acme, admin, client_as):
    client = client_as(admin, acme)

    def call(method: str, url: str, body=None):
        return client.generic(
            method, url, json.dumps(body) if body is not None else "", content_type="application/json"
        )

    return call


def _mid(tenant, user) -> str:
    return f"mem_{Membership.objects.get(tenant=tenant, user=user).pk}"


def test_members_list_has_state_last_login_sso_and_mfa(acme, admin, member, api):
    alice = member(acme, Role.AUDITOR, email="alice@acme.test")
    Authenticator.objects.create(
        user=alice, type=Authenticator.Type.TOTP, data={"secret": "JBSWY3DPEHPK3PXP"}
    )
    rows = {r["email"]: r for r in api("GET", "/api/v1/members").json()["results"]}
    assert rows["alice@acme.test"]["mfa"] == ["totp"] and rows["alice@acme.test"]["mfa_enrolled"] is True
    assert rows["boss@acme.test"]["mfa_enrolled"] is False
    assert rows["alice@acme.test"]["active"] is True and rows["alice@acme.test"]["sso_linked"] is False
    assert set(rows["alice@acme.test"]) >= {"last_login", "suspended_roles", "deactivated_at", "break_glass"}


def test_deactivate_and_reactivate(acme, admin, member, api):
    alice = member(acme, Role.OPERATOR, email="alice@acme.test")
    token = PersonalAccessTokenFactory(tenant=acme, user=alice)
    response = api("POST", f"/api/v1/members/{_mid(acme, alice)}/deactivate")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["tokens_revoked"] == [token.public_id] and body["sessions_scope"] == "all"
    assert body["member"]["active"] is False and body["member"]["roles"] == []
    assert body["member"]["suspended_roles"] == ["operator"]
    assert bearer_client(token.plaintext).get("/api/v1/me").status_code == 401
    again = api("POST", f"/api/v1/members/{_mid(acme, alice)}/deactivate")
    assert again.status_code == 400 and "membership" in again.json()["errors"]
    back = api("POST", f"/api/v1/members/{_mid(acme, alice)}/reactivate")
    assert back.status_code == 200 and back.json()["active"] is True and back.json()["roles"] == ["operator"]


def test_deactivating_yourself_is_400_naming_the_field(acme, admin, api):
    response = api("POST", f"/api/v1/members/{_mid(acme, admin)}/deactivate")
    assert response.status_code == 400
    assert "You cannot deactivate yourself" in " ".join(response.json()["errors"]["membership"])


@pytest.mark.parametrize("action", ["deactivate", "reactivate", "mfa-reset"])
def test_other_tenant_and_bad_ids_are_404(acme, globex, member, api, action):
    stranger = member(globex, Role.AUDITOR)
    assert api("POST", f"/api/v1/members/{_mid(globex, stranger)}/{action}").status_code == 404
    assert api("POST", f"/api/v1/members/mem_x/{action}").status_code == 404
    assert api("POST", f"/api/v1/members/42/{action}").status_code == 404


def test_wrong_role_is_403(acme, admin, member, client_as):
    client = client_as(member(acme, Role.AUDITOR, Role.SECURITY_REVIEWER, Role.OPERATOR), acme)
    mid = _mid(acme, admin)
    for url in (
        f"/api/v1/members/{mid}/deactivate",
        f"/api/v1/members/{mid}/mfa-reset",
        "/api/v1/invitations",
    ):
        assert client.post(url, "{}", content_type="application/json").status_code == 403
    assert client.get("/api/v1/invitations").status_code == 403


def test_mfa_reset_is_audited(acme, admin, member, api):
    alice = member(acme, Role.AUDITOR)
    Authenticator.objects.create(
        user=alice, type=Authenticator.Type.TOTP, data={"secret": "JBSWY3DPEHPK3PXP"}
    )
    response = api("POST", f"/api/v1/members/{_mid(acme, alice)}/mfa-reset")
    assert response.status_code == 200 and response.json()["authenticators_removed"] == 1
    assert response.json()["member"]["mfa"] == []
    assert AuditEntry.objects.filter(tenant=acme, action="mfa.reset", actor=admin).count() == 1
    none_left = api("POST", f"/api/v1/members/{_mid(acme, alice)}/mfa-reset")
    assert (
        none_left.status_code == 400 and "has no MFA to reset" in none_left.json()["errors"]["membership"][0]
    )


def test_mfa_policy(acme, api):
    assert api("GET", "/api/v1/mfa/policy").json() == {"mfa_required_roles": []}
    assert api("PUT", "/api/v1/mfa/policy", {"mfa_required_roles": ["tenant_admin"]}).json() == {
        "mfa_required_roles": ["tenant_admin"]
    }
    bad = api("PUT", "/api/v1/mfa/policy", {"mfa_required_roles": ["wizard"]})
    assert bad.status_code == 400 and "wizard" in bad.json()["errors"]["mfa_required_roles"][0]
    not_a_list = api("PUT", "/api/v1/mfa/policy", {"mfa_required_roles": "tenant_admin"})
    assert not_a_list.status_code == 400 and "mfa_required_roles" in not_a_list.json()["errors"]


def test_invitations_create_list_resend_revoke(acme, admin, api):
    created = api("POST", "/api/v1/invitations", {"email": "New@Example.test", "roles": ["auditor"]})
    assert created.status_code == 201, created.content
    inv = created.json()
    assert inv["email"] == "new@example.test" and inv["state"] == "pending" and inv["sent_count"] == 1
    assert inv["invited_by"] == "boss@acme.test" and inv["id"].startswith("inv_")
    assert [i["id"] for i in api("GET", "/api/v1/invitations").json()] == [inv["id"]]
    resent = api("POST", f"/api/v1/invitations/{inv['id']}/resend")
    assert resent.status_code == 200 and resent.json()["sent_count"] == 2
    revoked = api("POST", f"/api/v1/invitations/{inv['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    again = api("POST", f"/api/v1/invitations/{inv['id']}/revoke")
    assert again.status_code == 400 and "already revoked" in again.json()["errors"]["invitation"][0]
    actions = list(AuditEntry.objects.filter(tenant=acme).values_list("action", flat=True))
    assert {"invitation.create", "invitation.resend", "invitation.revoke"} <= set(actions)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "roles": ["auditor"]}, "email"),
        ({"roles": ["auditor"]}, "email"),
        ({"email": "x@example.test", "roles": []}, "roles"),
        ({"email": "x@example.test", "roles": ["wizard"]}, "roles"),
        ({"email": "x@example.test", "roles": "auditor"}, "roles"),
    ],
)
def test_invitation_bad_input_is_400_naming_the_field(acme, api, body, field):
    response = api("POST", "/api/v1/invitations", body)
    assert response.status_code == 400 and field in response.json()["errors"]
    assert not Invitation.objects.filter(tenant=acme).exists()


def test_other_tenants_invitation_is_404(acme, globex, member, api):
    other_admin = member(globex, Role.TENANT_ADMIN)
    from tenants.invitations import invitation_create

    theirs = invitation_create(
        tenant=globex, actor=other_admin, email="g@example.test", roles=["auditor"], base_url="http://t/"
    )
    for action in ("resend", "revoke"):
        assert api("POST", f"/api/v1/invitations/{theirs.public_id}/{action}").status_code == 404
    assert theirs.public_id not in [i["id"] for i in api("GET", "/api/v1/invitations").json()]
