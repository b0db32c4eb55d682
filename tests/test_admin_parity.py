"""The Django admin calls the services: the same change made in the admin and through the API (or the
page, where there is no API) leaves the same rows and the same evidence kinds."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from core.authz import forget_roles, roles_of
from core.roles import Role
from evidence.models import EvidenceRecord
from policies.models import Rollout, RolloutChange, RolloutChangePlan
from registry.models import Agent, AgentCredential
from tenants.models import Membership
from tests.factories import AgentCredentialFactory, AgentFactory, PolicyVersionFactory

pytestmark = pytest.mark.django_db

PACK = """\
apiVersion: cavra.policy/v2
metadata: {id: parity-pack, title: Parity pack, version: 1.0.0, description: parity}
defaults: {any: require_approval}
rules: []
"""


def _form_data(client, url: str) -> dict:
    """What the admin change form would post back unchanged (readonly fields are not in the form)."""
    page = client.get(url)
    assert page.status_code == 200, url
    form = page.context["adminform"].form
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is None:
            value = ""
        data[name] = value
    return data


def _kinds(tenant, subject: str) -> list[str]:
    return sorted(
        EvidenceRecord.objects.filter(tenant=tenant, subject=subject).values_list("kind", flat=True)
    )


@pytest.fixture
def admin_client(acme, member, client_as):
    user = member(acme, Role.TENANT_ADMIN, email="admin@acme.test")
    return client_as(user, acme), user


# ---------------------------------------------------------------- retiring an agent


def _agent_with_tokens(tenant, name):
    agent = AgentFactory(tenant=tenant, name=name)
    AgentCredentialFactory.create_batch(2, agent=agent)
    return agent


def test_retiring_an_agent_in_the_admin_equals_the_api(acme, admin_client):
    client, admin_user = admin_client
    by_admin = _agent_with_tokens(acme, "admin-bot")
    by_api = _agent_with_tokens(acme, "api-bot")

    url = f"/admin/registry/agent/{by_admin.pk}/change/"
    data = _form_data(client, url) | {"status": Agent.Status.RETIRED}
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    response = client.patch(
        f"/api/v1/agents/{by_api.public_id}",
        json.dumps({"status": "retired"}),
        content_type="application/json",
    )
    assert response.status_code == 200

    for agent in (by_admin, by_api):
        agent.refresh_from_db()
        assert agent.status == Agent.Status.RETIRED
        tokens = AgentCredential.objects.filter(agent=agent)
        assert tokens.count() == 2
        assert all(t.revoked_at is not None and t.revoked_by == admin_user for t in tokens)
    assert _kinds(acme, f"registry.agent:{by_admin.pk}") == _kinds(acme, f"registry.agent:{by_api.pk}")
    assert "audit.registry.agent.retired" in _kinds(acme, f"registry.agent:{by_admin.pk}")


def test_a_retired_agent_cannot_be_revived_from_the_admin(acme, admin_client):
    client, _ = admin_client
    agent = _agent_with_tokens(acme, "old-bot")
    url = f"/admin/registry/agent/{agent.pk}/change/"
    client.post(url, _form_data(client, url) | {"status": Agent.Status.RETIRED})
    evidence_before = EvidenceRecord.objects.filter(tenant=acme).count()

    data = _form_data(client, url)
    assert "status" not in data  # shown read-only: retiring cannot be undone from a form
    client.post(url, data | {"status": Agent.Status.ACTIVE})
    agent.refresh_from_db()
    assert agent.status == Agent.Status.RETIRED
    assert EvidenceRecord.objects.filter(tenant=acme).count() == evidence_before
    assert client.post(f"/admin/registry/agent/{agent.pk}/delete/", {"post": "yes"}).status_code == 403


def test_admin_agent_form_shows_the_services_field_errors(acme, admin_client):
    client, _ = admin_client
    _agent_with_tokens(acme, "taken")
    agent = _agent_with_tokens(acme, "free")
    url = f"/admin/registry/agent/{agent.pk}/change/"
    page = client.post(url, _form_data(client, url) | {"name": "TAKEN"})
    assert page.status_code == 200  # the form again, not a redirect and not a 500
    assert "name" in page.context["adminform"].form.errors
    agent.refresh_from_db()
    assert agent.name == "free"


# ---------------------------------------------------------------- saving a rollout


def test_saving_a_rollout_in_the_admin_equals_the_policies_page(acme, admin_client):
    client, admin_user = admin_client
    version = PolicyVersionFactory(tenant=acme, text=PACK)
    # The page and the admin name a repository the same way; the admin picks an existing row.
    assert (
        client.post(
            "/policies/rollouts/",
            {"version": version.public_id, "repository": "acme/page", "environment": "", "mode": "enforce"},
        ).status_code
        == 302
    )
    assert (
        client.post(
            "/policies/rollouts/",
            {"version": version.public_id, "repository": "acme/admin", "environment": "", "mode": "enforce"},
        ).status_code
        == 302
    )
    by_page = Rollout.objects.get(tenant=acme, repository__name="acme/page")
    by_admin = Rollout.objects.get(tenant=acme, repository__name="acme/admin")
    # Now the same change to each (enforce -> strict, a tightening applied at once): one through the
    # page, one through the admin.
    client.post(
        "/policies/rollouts/",
        {"version": version.public_id, "repository": "acme/page", "environment": "", "mode": "strict"},
    )
    url = f"/admin/policies/rollout/{by_admin.pk}/change/"
    assert client.post(url, _form_data(client, url) | {"mode": "strict"}).status_code == 302

    by_page.refresh_from_db()
    by_admin.refresh_from_db()
    assert (by_page.mode, by_admin.mode) == ("strict", "strict")
    assert by_admin.updated_by == admin_user == by_page.updated_by
    for rollout in (by_page, by_admin):
        changes = RolloutChange.objects.filter(rollout_public_id=rollout.public_id).order_by(
            "created_at", "id"
        )
        assert [c.after["mode"] for c in changes] == ["enforce", "strict"]
        assert all(c.actor == admin_user for c in changes)
    assert _kinds(acme, f"policies.rollout:{by_page.public_id}") == _kinds(
        acme, f"policies.rollout:{by_admin.public_id}"
    )
    assert "audit.rollout.change" in _kinds(acme, f"policies.rollout:{by_admin.public_id}")


def test_adding_and_deleting_a_rollout_in_the_admin_is_recorded(acme, admin_client):
    client, _ = admin_client
    version = PolicyVersionFactory(tenant=acme, text=PACK)
    response = client.post(
        "/admin/policies/rollout/add/",
        {"version": version.pk, "repository": "", "environment": "", "mode": "audit_only"},
    )
    assert response.status_code == 302, response.content[:2000]
    rollout = Rollout.objects.get(tenant=acme, repository=None, environment=None)
    added = RolloutChange.objects.get(rollout_public_id=rollout.public_id)
    assert added.before is None and added.after["mode"] == "audit_only"

    assert client.post(f"/admin/policies/rollout/{rollout.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Rollout.objects.filter(pk=rollout.pk).exists()
    removal = RolloutChange.objects.filter(rollout_public_id=rollout.public_id).latest("id")
    assert removal.after is None and removal.before["mode"] == "audit_only"
    assert _kinds(acme, f"policies.rollout:{rollout.public_id}") == [
        "audit.rollout.change",
        "audit.rollout.remove",
    ]


def test_a_loosening_rollout_change_in_the_admin_waits_for_its_plan(acme, admin_client):
    # The admin is no way around governed change: enforce -> audit_only loosens, so nothing is applied.
    client, _ = admin_client
    version = PolicyVersionFactory(tenant=acme, text=PACK)
    client.post(
        "/policies/rollouts/",
        {"version": version.public_id, "repository": "acme/app", "environment": "", "mode": "enforce"},
    )
    rollout = Rollout.objects.get(tenant=acme, repository__name="acme/app")
    url = f"/admin/policies/rollout/{rollout.pk}/change/"
    response = client.post(url, _form_data(client, url) | {"mode": "audit_only"}, follow=True)
    assert "loosens the policy" in response.content.decode()
    rollout.refresh_from_db()
    assert rollout.mode == "enforce"
    assert RolloutChange.objects.filter(rollout_public_id=rollout.public_id).count() == 1
    plan = RolloutChangePlan.objects.get(tenant=acme, repository="acme/app", mode="audit_only")
    assert (plan.risk, plan.status) == ("loosening", RolloutChangePlan.Status.PLANNED)


# ---------------------------------------------------------------- changing a member's roles


def test_changing_member_roles_in_the_admin_equals_the_members_page(acme, admin_client, member):
    client, _ = admin_client
    by_admin = member(acme, Role.OPERATOR, email="a@acme.test")
    by_page = member(acme, Role.OPERATOR, email="p@acme.test")
    admin_membership = Membership.objects.get(tenant=acme, user=by_admin)
    page_membership = Membership.objects.get(tenant=acme, user=by_page)

    url = f"/admin/tenants/membership/{admin_membership.pk}/change/"
    assert client.post(url, {"roles": ["auditor", "executive"]}).status_code == 302
    assert (
        client.post(
            f"/tenants/members/{page_membership.pk}/", {"roles": ["auditor", "executive"]}
        ).status_code
        == 302
    )
    for user in (by_admin, by_page):
        forget_roles(user)
        assert roles_of(user, acme) == {Role.AUDITOR, Role.EXECUTIVE}
        assert Membership.objects.get(tenant=acme, user=user).roles == [Role.AUDITOR, Role.EXECUTIVE]
    admin_kinds = _kinds(acme, f"tenants.membership:{admin_membership.pk}")
    assert admin_kinds == _kinds(acme, f"tenants.membership:{page_membership.pk}")
    assert "audit.membership.roles_change" in admin_kinds


def test_adding_an_agent_in_the_admin_goes_through_the_service(acme, admin_client):
    client, admin_user = admin_client
    data = {
        "name": "admin-made",
        "description": "",
        "profile": "claude-code",
        "owner": "",
        "status": "suspended",
        "allowed_repositories": "[]",
        "allowed_actions": "[]",
        "allowed_mcp_tools": "[]",
        "risk_tier": "medium",
    }
    response = client.post("/admin/registry/agent/add/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    agent = Agent.objects.get(tenant=acme, name="admin-made")
    assert agent.status == "suspended" and agent.created_by == admin_user
    assert _kinds(acme, f"registry.agent:{agent.pk}") == [
        "audit.registry.agent.create",
        "audit.registry.agent.suspended",
    ]
    bad = client.post("/admin/registry/agent/add/", data | {"name": "bad name"})
    assert bad.status_code == 200 and "name" in bad.context["adminform"].form.errors


# ---------------------------------------------------------------- repositories and environments


def _generation(tenant) -> int:
    tenant.refresh_from_db(fields=["policy_generation"])
    return tenant.policy_generation


def test_a_repository_saved_in_the_admin_equals_the_service(acme, admin_client, member):
    from policies.models import Repository
    from policies.services.scopes import repository_save

    client, admin_user = admin_client
    reviewer = member(acme, Role.SECURITY_REVIEWER, email="rev@acme.test")
    by_service = repository_save(
        tenant=acme, actor=admin_user, name="acme/service", description="d", owners=[reviewer]
    )
    generation = _generation(acme)
    response = client.post(
        "/admin/policies/repository/add/", {"name": "acme/admin", "description": "d", "owners": [reviewer.pk]}
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    by_admin = Repository.objects.get(tenant=acme, name="acme/admin")
    assert list(by_admin.owners.all()) == [reviewer]
    assert _generation(acme) > generation  # the decision path's rollout cache is dropped

    url = f"/admin/policies/repository/{by_admin.pk}/change/"
    assert client.post(url, _form_data(client, url) | {"description": "changed"}).status_code == 302
    repository_save(
        tenant=acme,
        actor=admin_user,
        repository=by_service,
        name="acme/service",
        description="changed",
        owners=[reviewer],
    )
    assert (
        _kinds(acme, f"policies.repository:{by_admin.pk}")
        == _kinds(acme, f"policies.repository:{by_service.pk}")
        == ["audit.repository.create", "audit.repository.update"]
    )
    update = EvidenceRecord.objects.filter(
        tenant=acme, subject=f"policies.repository:{by_admin.pk}", kind="audit.repository.update"
    ).get()
    assert (
        update.payload["before"]["description"] == "d" and update.payload["after"]["description"] == "changed"
    )
    assert update.payload["after"]["owners"] == ["rev@acme.test"]


def test_the_admin_repository_form_shows_the_services_errors(acme, admin_client):
    from policies.models import Repository

    client, admin_user = admin_client
    Repository.objects.create(tenant=acme, name="acme/taken")
    for name, message in (("acme/taken", "already has repository"), ("has space", "no spaces")):
        page = client.post("/admin/policies/repository/add/", {"name": name, "description": ""})
        assert page.status_code == 200  # the form again, not a redirect and not a 500
        assert message in " ".join(page.context["adminform"].form.errors["name"])
    assert Repository.objects.filter(tenant=acme).count() == 1


def test_an_environment_saved_and_deleted_in_the_admin_is_recorded(acme, admin_client):
    from policies.models import Environment

    client, _ = admin_client
    response = client.post("/admin/policies/environment/add/", {"name": "Staging", "is_production": ""})
    assert response.status_code == 302, response.context["adminform"].form.errors
    env = Environment.objects.get(tenant=acme, name="staging")  # named as the service names it
    url = f"/admin/policies/environment/{env.pk}/change/"
    assert client.post(url, _form_data(client, url) | {"is_production": "on"}).status_code == 302
    env.refresh_from_db()
    assert env.is_production
    assert client.post(f"/admin/policies/environment/{env.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Environment.objects.filter(pk=env.pk).exists()
    assert _kinds(acme, f"policies.environment:{env.pk}") == [
        "audit.environment.create",
        "audit.environment.delete",
        "audit.environment.update",
    ]


def test_a_scope_a_rollout_applies_to_is_not_deleted(acme, admin_client):
    from policies.models import Environment
    from policies.services import rollout_set
    from policies.services.scopes import policy_scope_delete

    client, admin_user = admin_client
    version = PolicyVersionFactory(tenant=acme, text=PACK)
    rollout = rollout_set(tenant=acme, version=version, mode="enforce", actor=admin_user, environment="prod")
    env = Environment.objects.get(tenant=acme, name="prod")
    with pytest.raises(ValidationError) as exc:
        policy_scope_delete(scope=env, actor=admin_user)
    assert rollout.public_id in exc.value.message_dict["environment"][0]
    client.post(f"/admin/policies/environment/{env.pk}/delete/", {"post": "yes"})
    assert Environment.objects.filter(pk=env.pk).exists()


def test_scope_services_check_the_actor(acme, member):
    from policies.services.scopes import environment_save

    auditor = member(acme, Role.AUDITOR, email="auditor@acme.test")
    with pytest.raises(PermissionDenied):
        environment_save(tenant=acme, actor=auditor, name="qa")
