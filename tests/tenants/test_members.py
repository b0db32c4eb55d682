"""Members page and membership services: invite, edit roles inline, remove, and every bad input."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from guardian.shortcuts import get_perms

from core.roles import Role
from tenants.models import AuditEntry, Invitation, Membership, Tenant, User
from tenants.services import membership_remove, membership_set_roles, tenant_create

pytestmark = pytest.mark.django_db


def _admin_client(acme, member, client_as):
    admin = member(acme, Role.TENANT_ADMIN, email="boss@acme.test")
    return admin, client_as(admin, acme)


def test_invite_creates_an_invitation_not_yet_a_membership(acme, member, client_as):
    """The membership (and its grants) come when the link is followed: tests/tenants/test_invitations.py."""
    admin, client = _admin_client(acme, member, client_as)
    response = client.post(
        "/tenants/members/", {"email": "New.Person@Example.test", "roles": ["auditor", "executive"]}
    )
    assert response.status_code == 302
    assert not Membership.objects.filter(tenant=acme, user__email="new.person@example.test").exists()
    invitation = Invitation.objects.get(tenant=acme, email="new.person@example.test")
    assert invitation.roles == ["auditor", "executive"] and invitation.invited_by == admin
    entry = AuditEntry.objects.get(tenant=acme, action="invitation.create")
    assert entry.actor == admin and entry.after["roles"] == ["auditor", "executive"]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"email": "not-an-email", "roles": ["auditor"]}, "email", "Enter a valid e-mail address."),
        ({"email": "x@example.test", "roles": []}, "roles", "Choose at least one role."),
        ({"email": "x@example.test", "roles": ["superhero"]}, "roles", "Unknown role: superhero."),
    ],
)
def test_invite_bad_input_is_shown_next_to_the_field_and_changes_nothing(
    acme, member, client_as, data, field, message
):
    _, client = _admin_client(acme, member, client_as)
    before = (
        Membership.objects.count(),
        User.objects.count(),
        AuditEntry.objects.count(),
        Invitation.objects.count(),
    )
    response = client.post("/tenants/members/", data, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    html = response.content.decode()
    assert message in html
    assert f'id="{field}-error"' in html  # the message sits next to its field
    after = (
        Membership.objects.count(),
        User.objects.count(),
        AuditEntry.objects.count(),
        Invitation.objects.count(),
    )
    assert after == before


def test_inviting_an_existing_member_is_refused(acme, member, client_as):
    _, client = _admin_client(acme, member, client_as)
    member(acme, Role.AUDITOR, email="already@acme.test")
    count = Membership.objects.count()
    response = client.post("/tenants/members/", {"email": "ALREADY@acme.test", "roles": ["executive"]})
    assert response.status_code == 422
    assert "already@acme.test is already a member of Acme Corp." in response.content.decode()
    assert Membership.objects.count() == count
    assert Membership.objects.get(user__email="already@acme.test").roles == ["auditor"]


def test_inline_role_edit_returns_the_row_fragment(acme, member, client_as):
    _, client = _admin_client(acme, member, client_as)
    user = member(acme, Role.AUDITOR)
    membership = Membership.objects.get(tenant=acme, user=user)
    edit = client.get(f"/tenants/members/{membership.pk}/?edit=1", HTTP_HX_REQUEST="true")
    assert edit.status_code == 200 and b"<html" not in edit.content and b"Save roles" in edit.content
    saved = client.post(f"/tenants/members/{membership.pk}/", {"roles": ["operator"]}, HTTP_HX_REQUEST="true")
    assert saved.status_code == 200 and b"<html" not in saved.content and b"Operator" in saved.content
    membership.refresh_from_db()
    assert membership.roles == ["operator"]
    assert set(get_perms(user, acme)) == {"role_operator"}


def test_removing_the_last_tenant_admin_is_refused_everywhere(acme, member, client_as):
    admin, client = _admin_client(acme, member, client_as)
    membership = Membership.objects.get(tenant=acme, user=admin)
    demote = client.post(f"/tenants/members/{membership.pk}/", {"roles": ["auditor"]}, HTTP_HX_REQUEST="true")
    assert demote.status_code == 422
    assert "A tenant must keep at least one tenant admin." in demote.content.decode()
    remove = client.post(f"/tenants/members/{membership.pk}/remove/")
    assert remove.status_code == 422 and "last tenant admin" in remove.content.decode()
    membership.refresh_from_db()
    assert membership.roles == ["tenant_admin"]
    assert "role_tenant_admin" in get_perms(admin, acme)


def test_remove_member_drops_grants(acme, member, client_as):
    _, client = _admin_client(acme, member, client_as)
    user = member(acme, Role.SECURITY_REVIEWER)
    membership = Membership.objects.get(tenant=acme, user=user)
    response = client.post(f"/tenants/members/{membership.pk}/remove/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and b"was removed" in response.content
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert get_perms(user, acme) == []
    assert AuditEntry.objects.filter(tenant=acme, action="membership.remove").exists()


def test_other_tenants_member_is_404(acme, globex, member, client_as):
    _, client = _admin_client(acme, member, client_as)
    outsider = member(globex, Role.AUDITOR)
    membership = Membership.objects.get(tenant=globex, user=outsider)
    assert client.get(f"/tenants/members/{membership.pk}/").status_code == 404
    assert client.post(f"/tenants/members/{membership.pk}/", {"roles": ["operator"]}).status_code == 404
    assert client.post(f"/tenants/members/{membership.pk}/remove/").status_code == 404
    assert Membership.objects.get(pk=membership.pk).roles == ["auditor"]
    page = client.get("/tenants/members/").content.decode()
    assert outsider.email not in page


def test_two_admins_demoting_each_other_keep_one_admin(acme, member):
    a = member(acme, Role.TENANT_ADMIN)
    b = member(acme, Role.TENANT_ADMIN)
    ma = Membership.objects.get(user=a)
    mb = Membership.objects.get(user=b)
    membership_set_roles(membership=ma, roles=["auditor"], actor=b)
    # a is an auditor now: the service checks the actor, whichever door the call came through.
    with pytest.raises(PermissionDenied):
        membership_set_roles(membership=mb, roles=["auditor"], actor=a)
    with pytest.raises(PermissionDenied):
        membership_remove(membership=mb, actor=a)
    # And nobody, not even the system (SSO sync, tasks), may take away the last admin.
    with pytest.raises(ValidationError):
        membership_set_roles(membership=mb, roles=["auditor"], actor=None)
    with pytest.raises(ValidationError):
        membership_remove(membership=mb, actor=None)
    assert Membership.objects.get(pk=mb.pk).roles == ["tenant_admin"]


@pytest.mark.parametrize("slug", ["", "Acme", "acme corp", "-acme", "a" * 51, "acme_"])
def test_invalid_tenant_slug_is_refused(db, slug):
    with pytest.raises(ValidationError) as info:
        tenant_create(slug=slug, name="X")
    assert "slug" in info.value.message_dict
    assert not Tenant.objects.exists()


def test_duplicate_tenant_slug_is_refused(acme):
    with pytest.raises(ValidationError) as info:
        tenant_create(slug="acme", name="Other")
    assert "already exists" in info.value.message_dict["slug"][0]


def test_tenant_switch(acme, globex, member, client_as):
    user = member(acme, Role.AUDITOR, email="both@x.test")
    member(globex, Role.EXECUTIVE, email="both@x.test")
    client = client_as(user, acme)
    assert b"Acme Corp" in client.get("/").content
    response = client.post("/tenants/switch/", {"tenant": "globex", "next": "/"})
    assert response.status_code == 302
    home = client.get("/")
    assert "<h1>Globex</h1>" in home.content.decode()
    assert client.get("/api/v1/me").json()["roles"] == ["executive"]


def test_switch_to_a_tenant_one_is_not_in_is_404_and_keeps_the_tenant(acme, globex, member, client_as):
    user = member(acme, Role.AUDITOR)
    client = client_as(user, acme)
    assert client.post("/tenants/switch/", {"tenant": "globex"}).status_code == 404
    assert client.post("/tenants/switch/", {"tenant": "nope"}).status_code == 404
    assert client.get("/api/v1/me").json()["tenant"]["slug"] == "acme"


def test_switch_refuses_offsite_redirect(acme, member, client_as):
    user = member(acme, Role.AUDITOR)
    response = client_as(user, acme).post(
        "/tenants/switch/", {"tenant": "acme", "next": "https://evil.example/"}
    )
    assert response["Location"] == "/"


def test_user_without_tenant_sees_explanation(db, client_as):
    user = User.objects.create_user(email="lonely@x.test", password="pw-test-123")
    response = client_as(user).get("/")
    assert response.status_code == 200 and b"not a member of any tenant" in response.content
    assert client_as(user).get("/tenants/members/").status_code == 404
