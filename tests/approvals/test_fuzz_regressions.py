"""Inputs schemathesis found that failed in the database: each is now a 4xx."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from core.roles import Role
from registry.services import agent_credential_issue

pytestmark = pytest.mark.django_db

NUL_ID = "/api/v1/approvals/apr_a%00b"


def test_approval_id_with_a_nul_is_a_400_for_members_and_agents(acme, member, client_as, make_agent):
    reviewer = client_as(member(acme, Role.SECURITY_REVIEWER), acme)
    assert reviewer.get(NUL_ID).status_code == 400
    reviewed = reviewer.post(f"{NUL_ID}/approve", json.dumps({}), content_type="application/json")
    assert reviewed.status_code == 400, reviewed.content
    _, token = agent_credential_issue(agent=make_agent(acme), actor=None)
    assert Client(HTTP_AUTHORIZATION=f"Bearer {token}").get(NUL_ID).status_code == 400
