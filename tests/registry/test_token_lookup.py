"""The hot-path credential lookup returns exactly what the ORM would, conversions included."""

from __future__ import annotations

import pytest
from django.utils import timezone

from registry.authentication import credential_by_hash
from registry.models import AgentCredential
from registry.services import agent_create, agent_credential_issue, token_hash

pytestmark = pytest.mark.django_db


def test_raw_lookup_matches_the_orm(acme):
    agent = agent_create(
        tenant=acme, actor=None, name="bot", profile="claude-code", allowed_repositories=["acme/*"]
    )
    credential, plaintext = agent_credential_issue(agent=agent, actor=None)
    AgentCredential.objects.filter(pk=credential.pk).update(last_used_at=timezone.now())
    raw = credential_by_hash(token_hash(plaintext))
    orm = AgentCredential.objects.select_related("agent__tenant").get(pk=credential.pk)
    for field in AgentCredential._meta.concrete_fields:
        assert getattr(raw, field.attname) == getattr(orm, field.attname), field.name
    for field in type(agent)._meta.concrete_fields:
        assert getattr(raw.agent, field.attname) == getattr(orm.agent, field.attname), field.name
    assert raw.agent.allowed_repositories == ["acme/*"]
    assert raw.last_used_at.tzinfo is not None
    assert (
        raw.agent.tenant.slug == "acme"
        and raw.agent.tenant.policy_generation == orm.agent.tenant.policy_generation
    )
    assert credential_by_hash("0" * 64) is None


def test_operator_manages_the_registry_with_a_personal_token(acme, member):
    from django.test import Client

    from tenants.tokens import personal_token_issue

    operator = member(acme, "operator")
    _, plaintext = personal_token_issue(user=operator, tenant=acme, name="terraform", actor=operator)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    created = client.post(
        "/api/v1/agents", {"name": "from-script", "profile": "ci-runner"}, content_type="application/json"
    )
    assert created.status_code == 201, created.content
    assert client.get("/api/v1/agents").status_code == 200
