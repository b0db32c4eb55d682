"""The whole agent loop through the API: require_approval -> reviewer approves -> the identical re-send is
allowed once; anything else carrying the approval id is blocked."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from approvals.models import ApprovalRequest
from approvals.services import approval_request_approve, reviewer_repository_grant_add
from evidence.models import EvidenceRecord
from registry.services import agent_create, agent_credential_issue
from tests.policies.conftest import ask

pytestmark = pytest.mark.django_db

DEPLOY = {
    "action": "execute_command",
    "target": "kubectl apply -f deploy.yaml",
    "repository": "acme/web",
    "environment": "prod",
}


@pytest.fixture
def approved(acme, rolled_out, agent_client, member):
    first = ask(agent_client, **DEPLOY).json()
    assert first["decision"] == "require_approval"
    approval = ApprovalRequest.objects.get(public_id=first["approval"]["id"])
    reviewer = member(acme, "security_reviewer", email="rev@acme.test")
    reviewer_repository_grant_add(tenant=acme, user=reviewer, repository_glob="acme/*")
    approval_request_approve(approval=approval, actor=reviewer, reason="Planned release")
    return approval


def test_identical_resend_is_allowed_once_then_consumed(acme, approved, agent_client):
    status = agent_client.get(f"/api/v1/approvals/{approved.public_id}").json()
    assert status["status"] == "approved"
    second = ask(agent_client, **DEPLOY, approval_id=approved.public_id).json()
    assert second["decision"] == "allow", second
    assert second["approval"]["id"] == approved.public_id
    approved.refresh_from_db()
    assert approved.status == "consumed"
    third = ask(agent_client, **DEPLOY, approval_id=approved.public_id).json()
    assert (third["decision"], third["rule_id"]) == ("block", "approval.mismatch")
    kinds = list(EvidenceRecord.objects.filter(tenant=acme).values_list("kind", flat=True))
    assert kinds.count("decision.recorded") == 3


@pytest.mark.parametrize(
    "change",
    [
        {"target": "kubectl apply -f other.yaml"},
        {"repository": "acme/payments"},
        {"environment": "staging"},
        {"action": "write_file", "target": "deploy.yaml"},
    ],
)
def test_approval_binds_the_exact_action(acme, approved, agent_client, change):
    body = ask(agent_client, **{**DEPLOY, **change}, approval_id=approved.public_id).json()
    assert (body["decision"], body["rule_id"]) == ("block", "approval.mismatch")
    approved.refresh_from_db()
    assert approved.status == "approved"  # a refused use consumes nothing


def test_another_agent_cannot_use_the_approval(acme, approved):
    other = agent_create(tenant=acme, actor=None, name="other-bot", profile="claude-code")
    _, token = agent_credential_issue(agent=other, actor=None)
    body = ask(Client(HTTP_AUTHORIZATION=f"Bearer {token}"), **DEPLOY, approval_id=approved.public_id).json()
    assert (body["decision"], body["rule_id"]) == ("block", "approval.mismatch")


def test_pending_approval_does_not_allow(acme, rolled_out, agent_client):
    first = ask(agent_client, **DEPLOY).json()
    again = ask(agent_client, **DEPLOY, approval_id=first["approval"]["id"]).json()
    assert again["decision"] == "block" and "approv" in again["reason"].lower()


def test_suspended_agent_cannot_use_an_approval(acme, approved, agent, agent_client):
    from registry.models import Agent

    Agent.objects.filter(pk=agent.pk).update(status="suspended")
    body = ask(agent_client, **DEPLOY, approval_id=approved.public_id).json()
    assert (body["decision"], body["rule_id"]) == ("block", "registry.agent.suspended")
    approved.refresh_from_db()
    assert approved.status == "approved"


def test_policy_change_invalidates_the_approval(acme, approved, agent_client):
    from policies.services import policy_pack_upload, rollout_set
    from tests.policies.conftest import TEST_PACK

    newer = policy_pack_upload(
        tenant=acme, text=TEST_PACK.replace("version: 1.0.0", "version: 1.0.1"), actor=None
    )
    rollout_set(tenant=acme, version=newer, mode="enforce", actor=None)
    body = ask(agent_client, **DEPLOY, approval_id=approved.public_id).json()
    assert (body["decision"], body["rule_id"]) == ("block", "approval.mismatch")


def test_long_poll_returns_at_once_when_decided(acme, approved, agent_client):
    response = agent_client.get(f"/api/v1/approvals/{approved.public_id}?wait=30")
    assert response.status_code == 200 and response.json()["status"] == "approved"
    assert json.loads(response.content)["id"] == approved.public_id
