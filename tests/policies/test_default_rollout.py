"""A new tenant starts safe: the recommended pack rolled out tenant-wide in enforce mode."""

from __future__ import annotations

import pytest

from cavra_engine.policy.loader import RECOMMENDED_PACK
from policies.models import Rollout
from registry.services import agent_create, agent_credential_issue
from tenants.services import tenant_create
from tests.policies.conftest import ask

pytestmark = pytest.mark.django_db


def test_a_new_tenant_runs_the_recommended_pack_and_rm_rf_root_is_not_allowed(client):
    tenant = tenant_create(slug="newco", name="NewCo")
    rollout = Rollout.objects.select_related("version__pack").get(tenant=tenant)
    assert (rollout.repository_id, rollout.environment_id, rollout.mode) == (None, None, "enforce")
    assert rollout.version.pack.pack_id == RECOMMENDED_PACK
    agent = agent_create(tenant=tenant, actor=None, name="bot", profile="claude-code")
    _, token = agent_credential_issue(agent=agent, actor=None)
    from django.test import Client

    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    for command in ("rm -rf /", "sudo /bin/rm -fr /"):
        body = ask(api, action="execute_command", target=command).json()
        assert body["decision"] != "allow", body
        assert body["policy"]["pack"] == RECOMMENDED_PACK


def test_starter_setup_can_be_skipped():
    tenant = tenant_create(slug="bare", name="Bare", starter_setup=False)
    assert not Rollout.objects.filter(tenant=tenant).exists()
