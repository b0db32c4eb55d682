"""core.authz: one table of capabilities, asked the same way by every caller; tenant-scoped querysets."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from core import authz
from core.authz import (
    CAPABILITY_ROLES,
    ROLE_CAPABILITIES,
    UnknownCapability,
    authorize,
    authorize_actor,
    can,
    capabilities_of,
    forget_roles,
)
from core.pages import register_home_panels, register_navigation
from core.roles import ALL_ROLES, Role
from policies.models import PolicyPack
from tenants.services import membership_set_roles

pytestmark = pytest.mark.django_db


def test_the_table_names_only_known_roles_and_reads_both_ways():
    for capability, roles in CAPABILITY_ROLES.items():
        assert roles <= set(ALL_ROLES), capability
        for role in ALL_ROLES:
            assert (capability in ROLE_CAPABILITIES[role]) == (role in roles)
    # The role that may do least still holds something, or it would be a role in name only.
    assert ROLE_CAPABILITIES[Role.REPORT_RECIPIENT] == {"tenants.view", "approvals.review"}


def test_unknown_capability_is_a_programming_error_not_a_silent_deny(acme, member):
    user = member(acme, Role.TENANT_ADMIN)
    with pytest.raises(UnknownCapability):
        can(user, acme, "policies.pubilsh")


def test_capabilities_come_from_roles_in_that_tenant_only(acme, globex, member):
    user = member(acme, Role.OPERATOR, email="op@x.test")
    member(globex, Role.AUDITOR, email="op@x.test")
    assert can(user, acme, "policies.publish") and not can(user, globex, "policies.publish")
    assert can(user, globex, "evidence.view") and not can(user, acme, "evidence.view")
    assert not can(user, None, "tenants.view")
    with pytest.raises(PermissionDenied):
        authorize(user, globex, "registry.manage_agents")
    assert "tenants.manage_members" not in capabilities_of(user, acme)


def test_an_inactive_user_can_do_nothing(acme, member):
    user = member(acme, Role.TENANT_ADMIN)
    user.is_active = False
    forget_roles(user)
    assert capabilities_of(user, acme) == frozenset()


def test_role_change_takes_effect_through_the_one_store(acme, member):
    admin = member(acme, Role.TENANT_ADMIN)
    user = member(acme, Role.OPERATOR)
    assert can(user, acme, "registry.manage_agents")
    membership_set_roles(membership=user.memberships.get(tenant=acme), roles=["auditor"], actor=admin)
    forget_roles(user)
    assert not can(user, acme, "registry.manage_agents") and can(user, acme, "evidence.view")


def test_services_check_the_actor_but_not_the_system(acme, member):
    auditor = member(acme, Role.AUDITOR)
    with pytest.raises(PermissionDenied):
        authorize_actor(auditor, acme, "policies.manage_rollouts")
    authorize_actor(None, acme, "policies.manage_rollouts")  # tasks, seeding, SSO sync


def test_an_object_rule_narrows_a_capability_for_one_object(acme, member, monkeypatch):
    monkeypatch.setitem(CAPABILITY_ROLES, "tests.touch", frozenset({Role.OPERATOR}))
    monkeypatch.setattr(authz, "_object_rules", {})
    authz.register_object_rule("tests.touch", lambda *, user, tenant, obj, roles: obj == "mine")
    operator = member(acme, Role.OPERATOR)
    assert can(operator, acme, "tests.touch")
    assert can(operator, acme, "tests.touch", obj="mine") and not can(
        operator, acme, "tests.touch", obj="theirs"
    )


def test_visible_to_gives_the_tenants_rows_or_none(acme, globex, member):
    PolicyPack.objects.create(tenant=acme, pack_id="a", title="A")
    PolicyPack.objects.create(tenant=globex, pack_id="g", title="G")
    reader = member(acme, Role.EVALUATOR)
    nobody = member(acme, Role.REPORT_RECIPIENT)
    assert [p.pack_id for p in PolicyPack.objects.visible_to(reader, "policies.view", tenant=acme)] == ["a"]
    assert not PolicyPack.objects.visible_to(reader, "policies.view", tenant=globex).exists()
    assert not PolicyPack.objects.visible_to(nobody, "policies.view", tenant=acme).exists()
    assert not PolicyPack.objects.visible_to(reader, "policies.view", tenant=None).exists()


def test_navigation_and_panels_take_a_capability_not_a_role_list():
    with pytest.raises(TypeError):
        register_navigation([("Rogue", "home", (Role.TENANT_ADMIN,))])
    from core.pages import HomePanel

    with pytest.raises(TypeError):
        register_home_panels([HomePanel("Rogue", "x.html", (Role.AUDITOR,))])


def test_docs_list_exactly_the_capability_table():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "authorization.md").read_text()
    header, *rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert [c.strip() for c in header.strip("|").split("|")][1:] == list(ALL_ROLES)
    documented = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        documented[cells[0].strip("`")] = {
            r for r, mark in zip(ALL_ROLES, cells[1:], strict=True) if mark == "x"
        }
    assert documented == {cap: set(roles) for cap, roles in CAPABILITY_ROLES.items()}
