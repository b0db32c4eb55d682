"""Every posture check fires on a failing object and clears when it is fixed; the lifecycle writes evidence."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from aispm.checks import CHECKS
from aispm.models import CheckSetting, Finding
from aispm.services.findings import (
    check_setting_update,
    finding_acknowledge,
    finding_reopen,
    finding_resolve,
    finding_risk_accept,
    findings_refresh,
)
from approvals.models import ApprovalRequest, BreakGlassReview
from evidence.models import Checkpoint, EvidenceRecord, SigningKey, VerificationRun
from evidence.services import chain_verify, checkpoint_create, signing_key_current, signing_key_rotate
from policies.models import Rollout
from policies.services import environment_ensure, rollout_set
from registry.models import Agent, AgentCredential, McpServer, McpTool
from registry.services import agent_create, agent_credential_issue, mcp_server_create
from tenants.models import SsoProvider


def _open(tenant, check_id) -> list[Finding]:
    findings_refresh(tenant=tenant, check_ids={check_id})
    return list(Finding.objects.filter(tenant=tenant, check_id=check_id, status=Finding.Status.OPEN))


@pytest.fixture
def owner(acme, member):
    return member(acme, "operator", email="owner@acme.test")


def _agent(acme, owner, **kw):
    kw.setdefault("allowed_repositories", ["acme/web"])
    return agent_create(
        tenant=acme, actor=None, name=kw.pop("name", "bot"), profile="claude-code", owner=owner, **kw
    )


# -- one fire + one clear per check ---------------------------------------------------------------------


def test_agent_no_owner(acme, owner):
    agent = _agent(acme, None)
    [finding] = _open(acme, "agent.no_owner")
    assert finding.agent_ref == agent.public_id and finding.involved[0]["id"] == agent.public_id
    Agent.objects.filter(pk=agent.pk).update(owner=owner)
    assert _open(acme, "agent.no_owner") == []
    assert Finding.objects.get(pk=finding.pk).status == Finding.Status.RESOLVED


def test_agent_every_repository(acme, owner):
    agent = _agent(acme, owner, allowed_repositories=[])
    assert len(_open(acme, "agent.every_repository")) == 1
    Agent.objects.filter(pk=agent.pk).update(allowed_repositories=["acme/web"])
    assert _open(acme, "agent.every_repository") == []


def test_credential_unused(acme, owner):
    credential, _ = agent_credential_issue(agent=_agent(acme, owner), actor=None)
    assert _open(acme, "credential.unused") == []  # fresh, within 90 days
    AgentCredential.objects.filter(pk=credential.pk).update(created_at=timezone.now() - timedelta(days=120))
    assert len(_open(acme, "credential.unused")) == 1
    AgentCredential.objects.filter(pk=credential.pk).update(last_used_at=timezone.now())
    assert _open(acme, "credential.unused") == []


def test_credential_no_expiry(acme, owner):
    agent = _agent(acme, owner)
    credential, _ = agent_credential_issue(agent=agent, actor=None)
    assert credential.expires_at is None and len(_open(acme, "credential.no_expiry")) == 1
    AgentCredential.objects.filter(pk=credential.pk).update(expires_at=timezone.now() + timedelta(days=30))
    assert _open(acme, "credential.no_expiry") == []


def test_mcp_unapproved_called(acme, past_decision):
    server = mcp_server_create(
        tenant=acme, actor=None, server_id="scratch", name="Scratch", command="npx scratch"
    )
    assert _open(acme, "mcp.unapproved_called") == []  # registered but never called
    past_decision(1, "block", action="mcp_tool_call", target="scratch:run")
    [finding] = _open(acme, "mcp.unapproved_called")
    assert "called 1 time" in finding.detail
    McpServer.objects.filter(pk=server.pk).update(approval_state="approved", trust_tier="approved")
    assert _open(acme, "mcp.unapproved_called") == []


def test_mcp_tool_changed(acme):
    server = mcp_server_create(tenant=acme, actor=None, server_id="gh", name="GitHub", command="npx gh-mcp")
    tool = McpTool.objects.create(
        tenant=acme, server=server, name="create_issue", status=McpTool.Status.CHANGED
    )
    [finding] = _open(acme, "mcp.tool_changed")
    assert finding.severity == "critical" and finding.surface == "mcp_tools"
    McpTool.objects.filter(pk=tool.pk).update(status=McpTool.Status.APPROVED)
    assert _open(acme, "mcp.tool_changed") == []


def test_rollout_production_not_enforced_and_missing(acme, compliance_version):
    environment_ensure(tenant=acme, name="prod")
    assert len(_open(acme, "rollout.production_missing")) == 1
    rollout = rollout_set(
        tenant=acme, version=compliance_version, mode="audit_only", actor=None, environment="prod"
    )
    assert _open(acme, "rollout.production_missing") == []
    assert len(_open(acme, "rollout.production_not_enforced")) == 1
    Rollout.objects.filter(pk=rollout.pk).update(mode="enforce")
    assert _open(acme, "rollout.production_not_enforced") == []


def test_pack_no_tests(acme):
    from policies.services import policy_pack_upload

    untested = policy_pack_upload(
        tenant=acme,
        text="apiVersion: cavra.policy/v2\nmetadata: {id: bare, title: Bare, version: 1.0.0, description: x}\n"
        "defaults: {any: allow}\nrules: []\n",
        actor=None,
    )
    rollout = rollout_set(tenant=acme, version=untested, mode="enforce", actor=None)
    assert len(_open(acme, "pack.no_tests")) == 1
    from policies.services import rollout_remove

    rollout_remove(rollout=rollout, actor=None)
    assert _open(acme, "pack.no_tests") == []


def _approval(acme, owner, **fields) -> ApprovalRequest:
    agent = Agent.objects.filter(tenant=acme).first() or _agent(acme, owner, name="approver-bot")
    defaults = {"action_digest": "0" * 64, "action": "execute_command", "target": "terraform apply",
                "expires_at": timezone.now() + timedelta(hours=1)}  # fmt: skip
    defaults.update(fields)
    return ApprovalRequest.objects.create(tenant=acme, agent=agent, **defaults)


def test_breakglass_review_overdue(acme, owner):
    request = _approval(acme, owner, status=ApprovalRequest.Status.BREAK_GLASS, is_break_glass=True)
    review = BreakGlassReview.objects.create(
        tenant=acme,
        request=request,
        invoked_by=owner,
        justification="outage",
        due_at=timezone.now() - timedelta(hours=1),
    )
    assert len(_open(acme, "breakglass.review_overdue")) == 1
    BreakGlassReview.objects.filter(pk=review.pk).update(status="closed", closed_at=timezone.now())
    assert _open(acme, "breakglass.review_overdue") == []


def test_approvals_left_to_expire(acme, owner):
    expired = _approval(
        acme, owner, status=ApprovalRequest.Status.EXPIRED, expires_at=timezone.now() - timedelta(days=1)
    )
    [finding] = _open(acme, "approvals.left_to_expire")
    assert "1 approval request(s) expired" in finding.detail
    ApprovalRequest.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=30))
    assert _open(acme, "approvals.left_to_expire") == []


def _grow_chain(acme):
    from django.db import transaction

    from evidence.services import evidence_append

    with transaction.atomic():
        evidence_append(tenant=acme, kind="test.event", subject="x", payload={"n": 1})


def test_evidence_checkpoint_stale(acme):
    _grow_chain(acme)
    checkpoint_create(tenant=acme)
    assert _open(acme, "evidence.checkpoint_stale") == []
    _grow_chain(acme)
    Checkpoint.objects.filter(tenant=acme).update(created_at=timezone.now() - timedelta(days=2))
    assert len(_open(acme, "evidence.checkpoint_stale")) == 1
    checkpoint_create(tenant=acme)
    assert _open(acme, "evidence.checkpoint_stale") == []


def test_evidence_not_verified(acme):
    _grow_chain(acme)
    [finding] = _open(acme, "evidence.not_verified")
    assert "never been verified" in finding.detail
    assert chain_verify(tenant=acme).ok
    assert _open(acme, "evidence.not_verified") == []
    VerificationRun.objects.filter(tenant=acme).update(started_at=timezone.now() - timedelta(days=8))
    assert len(_open(acme, "evidence.not_verified")) == 1


def test_key_rotation_age(acme):
    key = signing_key_current(acme)
    assert _open(acme, "key.rotation_age") == []
    SigningKey.objects.filter(pk=key.pk).update(valid_from=timezone.now() - timedelta(days=400))
    assert len(_open(acme, "key.rotation_age")) == 1
    signing_key_rotate(tenant=acme)
    assert _open(acme, "key.rotation_age") == []


def test_identity_sso_off(acme):
    assert len(_open(acme, "identity.sso_off")) == 1
    SsoProvider.objects.create(
        tenant=acme, name="Okta", issuer_url="https://idp.acme.test", client_id="c", provider_id="acme-okta"
    )
    assert _open(acme, "identity.sso_off") == []


def test_every_registered_check_has_a_fire_and_clear_test():
    tested = {
        "agent.no_owner", "agent.every_repository", "credential.unused", "credential.no_expiry",
        "mcp.unapproved_called", "mcp.tool_changed", "rollout.production_not_enforced",
        "rollout.production_missing", "pack.no_tests", "breakglass.review_overdue", "approvals.left_to_expire",
        "evidence.checkpoint_stale", "evidence.not_verified", "key.rotation_age", "identity.sso_off",
        "report.delivery_failing",  # tests/reports/test_delivery.py: escalation opens it, delivery clears it
        # fired (and cleared) through a real witness in tests/evidence/test_witness_publication.py
        "evidence.witness_refused", "evidence.witness_unpublished",
    }  # fmt: skip
    assert set(CHECKS) == tested


# -- lifecycle ------------------------------------------------------------------------------------------


def _kinds(acme, finding) -> list[str]:
    return list(
        EvidenceRecord.objects.filter(tenant=acme, subject=finding.public_id)
        .order_by("seq")
        .values_list("kind", flat=True)
    )


def test_lifecycle_transitions_write_evidence_and_a_failing_check_reopens(acme, owner, member):
    officer = member(acme, "compliance_officer")
    agent = _agent(acme, None)
    [finding] = _open(acme, "agent.no_owner")
    finding = finding_acknowledge(finding=finding, actor=officer, note="on it")
    assert finding.status == "acknowledged" and finding.acknowledged_by == officer
    finding = finding_resolve(finding=finding, actor=officer, note="fixed, I think")
    assert finding.status == "resolved"
    findings_refresh(tenant=acme, check_ids={"agent.no_owner"})  # still no owner: re-opened
    finding.refresh_from_db()
    assert finding.status == "open" and finding.reopened_count == 1
    Agent.objects.filter(pk=agent.pk).update(owner=owner)
    findings_refresh(tenant=acme, check_ids={"agent.no_owner"})
    finding.refresh_from_db()
    assert finding.status == "resolved"
    assert _kinds(acme, finding) == [
        "aispm.finding.opened", "aispm.finding.acknowledged", "aispm.finding.resolved",
        "aispm.finding.reopened", "aispm.finding.resolved",
    ]  # fmt: skip
    ack = EvidenceRecord.objects.get(
        tenant=acme, subject=finding.public_id, kind="aispm.finding.acknowledged"
    )
    assert ack.actor and officer.email in ack.actor and ack.payload["note"] == "on it"


def test_risk_acceptance_needs_reason_and_future_expiry_and_reopens_when_it_expires(acme, member):
    officer = member(acme, "compliance_officer")
    _agent(acme, None)
    [finding] = _open(acme, "agent.no_owner")
    with pytest.raises(ValidationError) as exc:
        finding_risk_accept(
            finding=finding, actor=officer, reason=" ", until=timezone.now() - timedelta(days=1)
        )
    assert set(exc.value.message_dict) == {"reason", "until"}
    finding.refresh_from_db()
    assert finding.status == "open"
    until = timezone.now() + timedelta(days=30)
    finding = finding_risk_accept(finding=finding, actor=officer, reason="pilot agent", until=until)
    assert finding.status == "risk_accepted" and finding.risk_accepted_by == officer
    findings_refresh(tenant=acme, check_ids={"agent.no_owner"})  # still failing, acceptance valid: stays
    finding.refresh_from_db()
    assert finding.status == "risk_accepted"
    Finding.objects.filter(pk=finding.pk).update(risk_accepted_until=timezone.now() - timedelta(minutes=1))
    findings_refresh(tenant=acme, check_ids={"agent.no_owner"})
    finding.refresh_from_db()
    assert finding.status == "open" and finding.reopened_count == 1
    accepted = EvidenceRecord.objects.get(
        tenant=acme, subject=finding.public_id, kind="aispm.finding.risk_accepted"
    )
    assert accepted.payload["reason"] == "pilot agent" and accepted.payload["until"].endswith("Z")


def test_invalid_transitions_change_nothing(acme, member):
    officer = member(acme, "compliance_officer")
    _agent(acme, None)
    [finding] = _open(acme, "agent.no_owner")
    finding_acknowledge(finding=finding, actor=officer)
    before = EvidenceRecord.objects.filter(tenant=acme).count()
    with pytest.raises(ValidationError):
        finding_acknowledge(finding=finding, actor=officer)
    finding = finding_resolve(finding=finding, actor=officer)
    with pytest.raises(ValidationError):
        finding_resolve(finding=finding, actor=officer)
    with pytest.raises(ValidationError):
        finding_risk_accept(
            finding=finding, actor=officer, reason="x", until=timezone.now() + timedelta(days=1)
        )
    finding = finding_reopen(finding=finding, actor=officer)
    with pytest.raises(ValidationError):
        finding_reopen(finding=finding, actor=officer)
    assert EvidenceRecord.objects.filter(tenant=acme).count() == before + 2  # the valid resolve and reopen


def test_a_disabled_check_resolves_its_findings_and_a_threshold_changes_what_fires(acme, owner, member):
    admin = member(acme, "tenant_admin")
    _agent(acme, None)
    assert len(_open(acme, "agent.no_owner")) == 1
    check_setting_update(
        tenant=acme, check_id="agent.no_owner", enabled=False, threshold_days=None, actor=admin
    )
    assert _open(acme, "agent.no_owner") == []
    resolved = EvidenceRecord.objects.filter(tenant=acme, kind="aispm.finding.resolved").first()
    assert resolved.payload["reason"] == "check disabled by a tenant admin"
    credential, _ = agent_credential_issue(agent=_agent(acme, owner, name="b2"), actor=None)
    AgentCredential.objects.filter(pk=credential.pk).update(created_at=timezone.now() - timedelta(days=40))
    assert _open(acme, "credential.unused") == []
    check_setting_update(
        tenant=acme, check_id="credential.unused", enabled=True, threshold_days=30, actor=admin
    )
    assert len(_open(acme, "credential.unused")) == 1
    assert EvidenceRecord.objects.filter(tenant=acme, kind="aispm.check.updated").count() == 2
    with pytest.raises(ValidationError) as exc:
        check_setting_update(
            tenant=acme, check_id="agent.no_owner", enabled=True, threshold_days=5, actor=admin
        )
    assert "threshold_days" in exc.value.message_dict
    with pytest.raises(ValidationError):
        check_setting_update(tenant=acme, check_id="nope", enabled=True, threshold_days=None, actor=admin)
    assert CheckSetting.objects.filter(tenant=acme).count() == 2


def test_findings_are_per_tenant(acme, globex, owner):
    _agent(acme, None)
    findings_refresh(tenant=globex)
    assert not Finding.objects.filter(tenant=globex, check_id="agent.no_owner").exists()
