"""Deactivating and reactivating a member: what ends (roles, sessions, tokens), what stays (invitations,
other tenants), every refusal, the audit/evidence trail, and the page (htmx row, no-JS confirmation)."""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied, ValidationError

from core.roles import Role
from evidence.models import EvidenceRecord
from tenants.invitations import invitation_create
from tenants.members import membership_deactivate, membership_reactivate, role_change_effect
from tenants.models import AuditEntry, Invitation, Membership, SsoProvider
from tests.factories import PersonalAccessTokenFactory
from tests.support.clients import bearer_client

pytestmark = pytest.mark.django_db


def _m(tenant, user) -> Membership:
    return Membership.objects.select_related("tenant", "user").get(tenant=tenant, user=user)


@pytest.fixture
def admin(acme, member):
    return member(acme, Role.TENANT_ADMIN, email="boss@acme.test")


def test_deactivation_signs_out_the_old_session_and_refuses_the_revoked_token(acme, admin, member, client_as):
    alice = member(acme, Role.SECURITY_REVIEWER, Role.AUDITOR, email="alice@acme.test")
    session = client_as(alice, acme)
    token = PersonalAccessTokenFactory(tenant=acme, user=alice)
    api = bearer_client(token.plaintext)
    assert session.get("/tenants/tokens/").status_code == 200
    assert api.get("/api/v1/me").status_code == 200

    result = membership_deactivate(membership=_m(acme, alice), actor=admin)

    assert result["tokens_revoked"] == [token.public_id]
    assert result["sessions_scope"] == "all" and result["sessions_ended"] == 1
    # The old session's next request is signed out: a page sends it to sign-in, the session is gone.
    response = session.get("/tenants/tokens/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert "_auth_user_id" not in session.session
    refused = api.get("/api/v1/me")
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    membership = _m(acme, alice)
    assert membership.roles == [] and membership.deactivated_at is not None
    assert membership.suspended_roles == [Role.SECURITY_REVIEWER, Role.AUDITOR]


def test_a_session_the_scan_missed_is_still_signed_out_at_its_next_request(acme, admin, member, client_as):
    """TenantMiddleware is the last word: a session row re-created after the scan (a racing login) ends too."""
    alice = member(acme, Role.AUDITOR)
    client = client_as(alice, acme)
    saved = {s.session_key: s.session_data for s in Session.objects.all()}
    membership_deactivate(membership=_m(acme, alice), actor=admin)
    for key, data in saved.items():
        Session.objects.update_or_create(
            session_key=key, defaults={"session_data": data, "expire_date": "2099-01-01T00:00Z"}
        )
    response = client.get("/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_with_another_active_tenant_only_this_tenants_sessions_end(acme, globex, admin, member, client_as):
    alice = member(acme, Role.AUDITOR, email="alice@acme.test")
    member(globex, Role.OPERATOR, email="alice@acme.test")
    in_acme, in_globex = client_as(alice, acme), client_as(alice, globex)
    globex_token = PersonalAccessTokenFactory(tenant=globex, user=alice)

    result = membership_deactivate(membership=_m(acme, alice), actor=admin)

    assert result["sessions_scope"] == "this tenant" and result["sessions_ended"] == 1
    assert in_acme.get("/").status_code == 302
    page = in_globex.get("/")
    assert page.status_code == 200 and page.context["request"].tenant == globex
    # …and cannot switch back to the tenant that deactivated them.
    assert in_globex.post("/tenants/switch/", {"tenant": "acme"}).status_code == 404
    # Tokens are per tenant: the other tenant's token still works.
    assert bearer_client(globex_token.plaintext).get("/api/v1/me").status_code == 200


def test_invitations_they_sent_stay_pending(acme, admin, member):
    second = member(acme, Role.TENANT_ADMIN, email="second@acme.test")
    invitation = invitation_create(
        tenant=acme, actor=second, email="new@example.test", roles=["auditor"], base_url="http://t/"
    )
    membership_deactivate(membership=_m(acme, second), actor=admin)
    invitation.refresh_from_db()
    assert invitation.state == "pending" and invitation.invited_by == second
    assert Invitation.objects.filter(tenant=acme, revoked_at__isnull=False).count() == 0


def test_deactivation_and_reactivation_are_audited_in_evidence(acme, admin, member):
    alice = member(acme, Role.OPERATOR, email="alice@acme.test")
    membership_deactivate(membership=_m(acme, alice), actor=admin)
    entry = AuditEntry.objects.get(tenant=acme, action="membership.deactivate")
    assert entry.actor == admin and entry.before["roles"] == [Role.OPERATOR]
    assert entry.after["active"] is False and entry.after["sessions_scope"] == "all"
    membership_reactivate(membership=_m(acme, alice), actor=admin)
    assert _m(acme, alice).roles == [Role.OPERATOR] and _m(acme, alice).deactivated_at is None
    reactivated = AuditEntry.objects.get(tenant=acme, action="membership.reactivate")
    assert reactivated.after == {"user": "alice@acme.test", "roles": [Role.OPERATOR], "active": True}
    kinds = set(EvidenceRecord.objects.filter(tenant=acme).values_list("kind", flat=True))
    assert {"audit.membership.deactivate", "audit.membership.reactivate"} <= kinds


def test_reactivation_does_not_bring_back_old_sessions_or_tokens(acme, admin, member, client_as):
    alice = member(acme, Role.AUDITOR)
    client = client_as(alice, acme)
    token = PersonalAccessTokenFactory(tenant=acme, user=alice)
    membership_deactivate(membership=_m(acme, alice), actor=admin)
    membership_reactivate(membership=_m(acme, alice), actor=admin)
    assert client.get("/").status_code == 302  # the session row was deleted at deactivation
    assert bearer_client(token.plaintext).get("/api/v1/me").status_code == 401


@pytest.mark.parametrize("who", ["self", "break_glass", "already"])
def test_refusals(acme, admin, member, who):
    target, actor = admin, admin
    if who == "break_glass":
        target = member(acme, Role.TENANT_ADMIN, email="glass@acme.test")
        SsoProvider.objects.create(
            tenant=acme,
            name="IdP",
            issuer_url="https://idp.test",
            client_id="x",
            enforce_sso=True,
            break_glass_user=target,
        )
    if who == "already":
        target = member(acme, Role.AUDITOR)
        membership_deactivate(membership=_m(acme, target), actor=admin)
    before = AuditEntry.objects.count()
    with pytest.raises(ValidationError) as exc:
        membership_deactivate(membership=_m(acme, target), actor=actor)
    message = " ".join(exc.value.message_dict["membership"])
    expected = {
        "self": "You cannot deactivate yourself",
        "break_glass": "break-glass admin while SSO is required",
        "already": "is already deactivated",
    }[who]
    assert expected in message
    assert AuditEntry.objects.count() == before


def test_the_last_active_tenant_admin_cannot_be_deactivated(acme, admin, member):
    """Two admins: one deactivates the other; the one left is the last active admin (a deactivated
    admin holds no role, so does not count)."""
    second = member(acme, Role.TENANT_ADMIN, email="second@acme.test")
    membership_deactivate(membership=_m(acme, second), actor=admin)
    # A platform superuser (not a member) acting through the service, so "yourself" is not the reason.
    from tenants.models import User

    root = User.objects.create_superuser(email="root@platform.test", password="x")
    with pytest.raises(ValidationError) as exc:
        membership_deactivate(membership=_m(acme, admin), actor=root)
    assert "last active tenant admin" in " ".join(exc.value.messages)


def test_break_glass_may_be_deactivated_once_sso_is_not_enforced(acme, admin, member):
    glass = member(acme, Role.TENANT_ADMIN, email="glass@acme.test")
    SsoProvider.objects.create(
        tenant=acme, name="IdP", issuer_url="https://idp.test", client_id="x", break_glass_user=glass
    )
    membership_deactivate(membership=_m(acme, glass), actor=admin)
    assert _m(acme, glass).deactivated_at is not None


def test_a_deactivated_member_gets_no_role_edit_and_no_sso_regrant(acme, admin, member):
    from tenants.models import RoleMapping
    from tenants.services import membership_set_roles, membership_sync_from_idp

    alice = member(acme, Role.AUDITOR)
    membership_deactivate(membership=_m(acme, alice), actor=admin)
    with pytest.raises(ValidationError) as exc:
        membership_set_roles(membership=_m(acme, alice), roles=["operator"], actor=admin)
    assert "reactivate them first" in " ".join(exc.value.message_dict["roles"])
    RoleMapping.objects.create(tenant=acme, idp_group="ops", role=Role.OPERATOR)
    assert membership_sync_from_idp(tenant=acme, user=alice, groups=["ops"]) is None
    assert _m(acme, alice).roles == []


def test_reactivation_meets_the_mfa_policy(acme, admin, member):
    alice = member(acme, Role.SECURITY_REVIEWER)
    membership_deactivate(membership=_m(acme, alice), actor=admin)
    acme.mfa_required_roles = [Role.SECURITY_REVIEWER]
    acme.save()
    with pytest.raises(ValidationError) as exc:
        membership_reactivate(membership=_m(acme, alice), actor=admin)
    assert "requires multi-factor authentication" in " ".join(exc.value.message_dict["roles"])
    assert _m(acme, alice).deactivated_at is not None


def test_wrong_role_cannot_deactivate(acme, admin, member):
    auditor = member(acme, Role.AUDITOR, Role.SECURITY_REVIEWER, Role.OPERATOR)
    with pytest.raises(PermissionDenied):
        membership_deactivate(membership=_m(acme, admin), actor=auditor)


# ---------------------------------------------------------------- the page


def test_page_deactivate_swaps_the_row_and_reactivate_restores(acme, admin, member, client_as):
    alice = member(acme, Role.AUDITOR, email="alice@acme.test")
    client = client_as(admin, acme)
    m = _m(acme, alice)
    response = client.post(f"/tenants/members/{m.pk}/deactivate/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Deactivated" in html and "held: Auditor" in html and "Reactivate" in html
    assert "alice@acme.test deactivated" in response["HX-Trigger"]
    response = client.post(f"/tenants/members/{m.pk}/reactivate/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Deactivate" in response.content.decode()
    assert _m(acme, alice).roles == [Role.AUDITOR]


def test_page_confirmation_without_javascript_and_refusal_in_words(acme, admin, client_as):
    client = client_as(admin, acme)
    m = _m(acme, admin)
    confirm = client.get(f"/tenants/members/{m.pk}/deactivate/")
    assert confirm.status_code == 200 and "personal API tokens" in confirm.content.decode()
    refused = client.post(f"/tenants/members/{m.pk}/deactivate/")
    assert refused.status_code == 422 and "You cannot deactivate yourself" in refused.content.decode()
    row = client.post(f"/tenants/members/{m.pk}/deactivate/", HTTP_HX_REQUEST="true")
    assert row.status_code == 422 and "You cannot deactivate yourself" in row.content.decode()


def test_page_other_tenants_member_is_404(acme, globex, admin, member, client_as):
    stranger = member(globex, Role.AUDITOR)
    m = _m(globex, stranger)
    client = client_as(admin, acme)
    assert client.post(f"/tenants/members/{m.pk}/deactivate/").status_code == 404
    assert client.post(f"/tenants/members/{m.pk}/reactivate/").status_code == 404
    assert _m(globex, stranger).deactivated_at is None


def test_members_page_shows_last_sign_in_sso_and_mfa(acme, admin, member, client_as):
    from allauth.socialaccount.models import SocialAccount
    from django.utils import timezone

    alice = member(acme, Role.AUDITOR, email="alice@acme.test")
    alice.last_login = timezone.now()
    alice.save()
    SocialAccount.objects.create(user=alice, provider="acme-idp", uid="alice")
    html = client_as(admin, acme).get("/tenants/members/").content.decode()
    row = html[html.index('data-email="alice@acme.test"') :]
    row = row[: row.index("</tr>")]
    assert "ago</time>" in row and "linked" in row and "not set up" in row


def test_role_edit_explains_the_effect(acme, admin, member, client_as):
    alice = member(acme, Role.AUDITOR)
    client = client_as(admin, acme)
    m = _m(acme, alice)
    form = client.get(f"/tenants/members/{m.pk}/?edit=1", HTTP_HX_REQUEST="true").content.decode()
    assert "may approvals.review" in form  # each role says what it allows
    response = client.post(f"/tenants/members/{m.pk}/", {"roles": ["operator"]}, HTTP_HX_REQUEST="true")
    toast = response["HX-Trigger"]
    assert "gains" in toast and "policies.publish" in toast and "loses" in toast and "evidence.view" in toast
    effect = role_change_effect([Role.AUDITOR], [Role.OPERATOR])
    assert effect["roles_added"] == ["Operator"] and effect["roles_removed"] == ["Auditor"]
    assert "evidence.export" in effect["loses"] and "registry.manage_agents" in effect["gains"]


def test_a_new_sign_in_after_deactivation_reaches_no_tenant_page(acme, admin, member, client_as):
    alice = member(acme, Role.AUDITOR)
    membership_deactivate(membership=_m(acme, alice), actor=admin)
    fresh = client_as(alice)  # signs in again, no tenant chosen
    home = fresh.get("/")
    assert home.status_code == 200 and home.context["request"].tenant is None
    assert fresh.get("/tenants/tokens/").status_code == 404
    assert fresh.get("/api/v1/me").json()["roles"] == []
