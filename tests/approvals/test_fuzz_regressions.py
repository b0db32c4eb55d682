"""Inputs schemathesis found that failed in the database: each is now a 4xx."""

from __future__ import annotations

import json

import pytest

from core.roles import Role
from tests.factories import AgentCredentialFactory
from tests.support.clients import bearer_client

pytestmark = pytest.mark.django_db

NUL_ID = "/api/v1/approvals/apr_a%00b"


def test_approval_id_with_a_nul_is_a_400_for_members_and_agents(acme, member, client_as):
    reviewer = client_as(member(acme, Role.SECURITY_REVIEWER), acme)
    assert reviewer.get(NUL_ID).status_code == 400
    reviewed = reviewer.post(f"{NUL_ID}/approve", json.dumps({}), content_type="application/json")
    assert reviewed.status_code == 400, reviewed.content
    token = AgentCredentialFactory(agent__tenant=acme).plaintext
    assert bearer_client(token).get(NUL_ID).status_code == 400
