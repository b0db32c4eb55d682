"""The tenant-aware admin: a tenant admin sees and edits only their tenant, everything is audited."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model

from core.admin import TenantScopedAdmin
from core.models import TenantOwned
from core.roles import Role
from tenants.models import AuditEntry, Membership, RoleMapping, SsoProvider, Tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme_admin(acme, globex, member, client_as):
    user = member(acme, Role.TENANT_ADMIN, email="admin@acme.test")
    member(globex, Role.TENANT_ADMIN, email="admin@globex.test")
    member(globex, Role.AUDITOR, email="spy@globex.test")
    RoleMapping.objects.create(tenant=globex, idp_group="globex-secops", role=Role.SECURITY_REVIEWER)
    SsoProvider.objects.create(
        tenant=globex, name="Globex Okta", issuer_url="https://okta.globex.test", client_id="g"
    )
    return client_as(user, acme)


def test_every_tenant_owned_model_in_the_admin_is_scoped():
    for model, model_admin in admin.site._registry.items():
        if issubclass(model, TenantOwned) or model is Tenant:
            assert isinstance(model_admin, TenantScopedAdmin), f"{model.__name__} admin is not tenant-scoped"


def test_changelists_show_only_own_tenant(acme_admin):
    members = acme_admin.get("/admin/tenants/membership/").content.decode()
    assert "admin@acme.test" in members and "globex.test" not in members
    tenants = acme_admin.get("/admin/tenants/tenant/").content.decode()
    assert "Acme Corp" in tenants and "Globex" not in tenants
    assert "globex-secops" not in acme_admin.get("/admin/tenants/rolemapping/").content.decode()
    assert "Globex Okta" not in acme_admin.get("/admin/tenants/ssoprovider/").content.decode()


def test_other_tenants_change_forms_are_not_reachable(acme_admin, globex):
    spy = Membership.objects.get(user__email="spy@globex.test")
    mapping = RoleMapping.objects.get(tenant=globex)
    for url in (
        f"/admin/tenants/membership/{spy.pk}/change/",
        f"/admin/tenants/tenant/{globex.pk}/change/",
        f"/admin/tenants/rolemapping/{mapping.pk}/change/",
        f"/admin/tenants/rolemapping/{mapping.pk}/delete/",
    ):
        response = acme_admin.get(url)
        # Django's admin redirects a missing object to the index with a message: no data shown.
        assert response.status_code in (302, 404), url
        assert b"globex-secops" not in response.content
    acme_admin.post(f"/admin/tenants/rolemapping/{mapping.pk}/delete/", {"post": "yes"})
    assert RoleMapping.objects.filter(pk=mapping.pk).exists()


def test_foreign_key_choices_are_limited_to_own_tenant(acme_admin):
    html = acme_admin.get("/admin/tenants/membership/add/").content.decode()
    assert "admin@acme.test" in html
    assert "spy@globex.test" not in html and "admin@globex.test" not in html
    assert 'name="tenant"' not in html  # the tenant is implied, never chosen


def test_adding_a_member_of_another_tenant_through_the_admin_is_refused(acme_admin, acme):
    spy = get_user_model().objects.get(email="spy@globex.test")
    response = acme_admin.post("/admin/tenants/membership/add/", {"user": spy.pk, "roles": ["auditor"]})
    assert response.status_code == 200  # the form comes back with an error
    assert not Membership.objects.filter(tenant=acme, user=spy).exists()


def test_admin_change_is_audited_with_before_and_after(acme_admin, acme):
    response = acme_admin.post(
        "/admin/tenants/rolemapping/add/", {"idp_group": "acme-secops", "role": Role.SECURITY_REVIEWER}
    )
    assert response.status_code == 302
    mapping = RoleMapping.objects.get(idp_group="acme-secops")
    assert mapping.tenant == acme
    response = acme_admin.post(
        f"/admin/tenants/rolemapping/{mapping.pk}/change/",
        {"idp_group": "acme-sec", "role": Role.SECURITY_REVIEWER},
    )
    assert response.status_code == 302
    entry = AuditEntry.objects.filter(
        tenant=acme, action="admin.change", object_type="tenants.rolemapping"
    ).get()
    assert entry.before["idp_group"] == "acme-secops" and entry.after["idp_group"] == "acme-sec"
    assert entry.actor_label == "admin@acme.test"


def test_admin_role_edit_goes_through_the_service(acme_admin, acme):
    user = get_user_model().objects.get(email="admin@acme.test")
    own = Membership.objects.get(tenant=acme, user=user)
    response = acme_admin.post(f"/admin/tenants/membership/{own.pk}/change/", {"roles": ["auditor"]})
    assert response.status_code == 200 and b"at least one tenant admin" in response.content
    assert Membership.objects.get(pk=own.pk).roles == ["tenant_admin"]


def test_tenant_admin_cannot_change_entitlement(acme_admin, acme):
    acme_admin.post(
        f"/admin/tenants/tenant/{acme.pk}/change/",
        {
            "name": "Acme Renamed",
            "entitlement_status": "active",
            "edition": "enterprise",
            "operating_contacts": "",
            "escalation_route": "",
        },
    )
    acme.refresh_from_db()
    assert acme.name == "Acme Renamed" and acme.edition == Tenant.Edition.COMMUNITY


def test_non_admin_members_cannot_open_the_admin(acme, member, client_as):
    reviewer = member(acme, Role.SECURITY_REVIEWER)
    client = client_as(reviewer, acme)
    response = client.get("/admin/tenants/membership/", follow=True)
    assert response.redirect_chain[0][0].startswith("/admin/login/")
    assert response.redirect_chain[-1][0] == "/"
    assert b"CAVRA Portal administration" not in response.content


def test_superuser_sees_every_tenant(acme_admin, client_as):
    root = get_user_model().objects.create_superuser(email="root@cavra.test", password="pw-test-123")
    html = client_as(root).get("/admin/tenants/membership/").content.decode()
    assert "admin@acme.test" in html and "spy@globex.test" in html
