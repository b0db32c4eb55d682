"""Governed policy change through the API: draft -> plan -> publish request -> four-eyes approval -> signed version."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client

from approvals.models import ApprovalRequest
from approvals.services import approval_request_approve, approval_request_deny
from cavra_engine.policy.cli import main as cavra_policy
from cavra_engine.policy.loader import RECOMMENDED_PACK
from evidence.models import Decision, EvidenceRecord
from evidence.services import chain_verify
from policies.models import PolicyDraft, PolicyVersion, PublishPlan, Rollout
from policies.services.defaults import tenant_default_rollout_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(acme, member, client_as):
    tenant_default_rollout_create(tenant=acme)
    for target in ("rm -rf /", "ls -la", "sudo /bin/rm -fr /"):
        Decision.objects.create(
            tenant=acme,
            action="execute_command",
            target=target,
            decision="block" if "rm" in target else "allow",
            policy_pack=RECOMMENDED_PACK,
            context={"request_context": {}, "replay": {"agent_profile": None, "git": None, "method": None}},
        )
    author = member(acme, "operator", email="author@acme.test")
    rev1 = member(acme, "security_reviewer", email="rev1@acme.test")
    rev2 = member(acme, "security_reviewer", email="rev2@acme.test")
    return type("S", (), {"author": author, "rev1": rev1, "rev2": rev2, "api": client_as(author, acme)})


def call(client: Client, method: str, url: str, body=None):
    return client.generic(method, url, json.dumps(body or {}), content_type="application/json")


LOOSER_RM = """
rules:
  - id: destructive-commands.rm.catastrophic
    override: true
    action: execute_command
    match: {commands: [{program: rm, args: [/nonexistent-only]}]}
    effect: block
  - id: destructive-commands.rm.outside-workspace
    override: true
    action: execute_command
    match: {commands: [{program: rm, args: [/nonexistent-only]}]}
    effect: require_approval
tests:"""


def loosen(source: str) -> str:
    """The recommended pack with its rm rules narrowed to nothing: rm -rf / becomes allow."""
    assert "\ntests:" in source
    kept = "\n".join(line for line in source.splitlines() if "name: rm root from" not in line) + "\n"
    return kept.replace("\ntests:", LOOSER_RM, 1)


def test_loosening_publish_needs_two_reviewers_other_than_the_author_and_ends_signed(setup, acme, tmp_path):
    api = setup.api
    created = call(api, "POST", f"/api/v1/policy-packs/{RECOMMENDED_PACK}/drafts")
    assert created.status_code == 201, created.content
    draft = created.json()
    assert draft["valid"] and draft["base_version"] and draft["author"] == "author@acme.test"

    bad = call(
        api,
        "PUT",
        f"/api/v1/policy-drafts/{draft['id']}",
        {"source": "apiVersion: cavra.policy/v2\nmetadata: {id: x\n"},
    )
    assert bad.status_code == 400 and bad["Content-Type"].startswith("application/problem+json")
    assert "line" in json.dumps(bad.json())
    assert PolicyDraft.objects.get(public_id=draft["id"]).source_text == draft["source"]  # unchanged

    saved = call(api, "PUT", f"/api/v1/policy-drafts/{draft['id']}", {"source": loosen(draft["source"])})
    assert saved.status_code == 200 and saved.json()["digest"] != draft["digest"]

    plan = call(api, "POST", f"/api/v1/policy-drafts/{draft['id']}/publish-plan").json()
    assert plan["risk"] == "loosening"
    turning = [c["id"] for c in plan["canaries"] if c["turns_allow"]]
    assert "rm-root" in turning and "rm-root-sudo" in turning
    assert plan["replay"]["total"] == 3 and plan["replay"]["changed_count"] == 2
    assert plan["replay"]["matrix"]["block"]["allow"] == 2

    # The draft changes after the plan: that plan can no longer be used.
    changed = loosen(draft["source"]).replace("version: 1.0.0", "version: 1.1.0", 1)
    assert call(api, "PUT", f"/api/v1/policy-drafts/{draft['id']}", {"source": changed}).status_code == 200
    stale = call(api, "POST", f"/api/v1/policy-drafts/{draft['id']}/publish-request", {"plan": plan["id"]})
    assert stale.status_code == 400 and "changed after this plan" in json.dumps(stale.json())
    assert not ApprovalRequest.objects.filter(tenant=acme).exists()

    plan = call(api, "POST", f"/api/v1/policy-drafts/{draft['id']}/publish-plan").json()
    requested = call(
        api,
        "POST",
        f"/api/v1/policy-drafts/{draft['id']}/publish-request",
        {"plan": plan["id"], "reason": "trial"},
    )
    assert requested.status_code == 201, requested.content
    approval = ApprovalRequest.objects.get(public_id=requested.json()["approval"])
    assert (approval.subject_type, approval.quorum, approval.agent_id) == ("policy_publish", 2, None)

    with pytest.raises(PermissionDenied):
        approval_request_approve(approval=approval, actor=setup.author, reason="mine")
    approval_request_approve(approval=approval, actor=setup.rev1, reason="ok")
    approval.refresh_from_db()
    assert approval.status == "pending"
    assert not PolicyVersion.objects.filter(tenant=acme, version="1.1.0").exists()
    approval_request_approve(approval=approval, actor=setup.rev2, reason="ok too")

    version = PolicyVersion.objects.get(tenant=acme, version="1.1.0")
    assert version.digest == plan["digest"] and version.signature["key_id"].startswith("psk_")
    rollout = Rollout.objects.get(tenant=acme, repository=None, environment=None)
    assert rollout.version_id == version.pk  # in force where the pack ran
    assert PublishPlan.objects.get(public_id=plan["id"]).status == "published"

    signature = call(api, "GET", f"/api/v1/policy-versions/{version.public_id}/signature").json()
    trust = call(api, "GET", "/api/v1/policy-trust-root").json()
    (tmp_path / "policy.yaml").write_text(version.source_text, encoding="utf-8")
    (tmp_path / "policy.yaml.sig.json").write_text(json.dumps(signature), encoding="utf-8")
    (tmp_path / "trust.json").write_text(json.dumps(trust), encoding="utf-8")
    assert (
        cavra_policy(
            ["policy", "verify", str(tmp_path / "policy.yaml"), "--trust-root", str(tmp_path / "trust.json")]
        )
        == 0
    )
    (tmp_path / "policy.yaml").write_text(version.source_text + "\n# tampered\n", encoding="utf-8")
    assert (
        cavra_policy(
            ["policy", "verify", str(tmp_path / "policy.yaml"), "--trust-root", str(tmp_path / "trust.json")]
        )
        == 1
    )

    kinds = set(EvidenceRecord.objects.filter(tenant=acme).values_list("kind", flat=True))
    assert {
        "audit.policy.draft.create",
        "audit.policy.plan",
        "audit.policy.publish_request",
        "approval.opened",
        "approval.approved",
        "audit.policy.publish",
    } <= kinds
    assert chain_verify(tenant=acme).ok


def test_a_tightening_publish_needs_one_reviewer_and_a_denial_reopens_the_draft(setup, acme):
    api = setup.api
    draft = call(api, "POST", "/api/v1/policy-packs/new/drafts").json()
    plan = call(api, "POST", f"/api/v1/policy-drafts/{draft['id']}/publish-plan").json()
    assert plan["risk"] in ("neutral", "tightening", "loosening")
    requested = call(
        api, "POST", f"/api/v1/policy-drafts/{draft['id']}/publish-request", {"plan": plan["id"]}
    ).json()
    approval = ApprovalRequest.objects.get(public_id=requested["approval"])
    assert approval.quorum == (2 if plan["risk"] == "loosening" else 1)
    approval_request_deny(approval=approval, actor=setup.rev1, reason="no")
    assert PolicyDraft.objects.get(public_id=draft["id"]).status == "open"
    assert PublishPlan.objects.get(public_id=plan["id"]).status == "refused"
    again = call(api, "POST", f"/api/v1/policy-drafts/{draft['id']}/publish-request", {"plan": plan["id"]})
    assert again.status_code == 400


def test_another_tenants_draft_is_404_and_bad_input_names_the_field(setup, acme, globex, member, client_as):
    draft = call(setup.api, "POST", f"/api/v1/policy-packs/{RECOMMENDED_PACK}/drafts").json()
    outsider = client_as(member(globex, "operator"), globex)
    assert call(outsider, "GET", f"/api/v1/policy-drafts/{draft['id']}").status_code == 404
    assert call(outsider, "POST", f"/api/v1/policy-drafts/{draft['id']}/publish-plan").status_code == 404
    missing = call(setup.api, "POST", "/api/v1/policy-packs/no-such-pack/drafts")
    assert missing.status_code == 400 and "pack" in missing.json().get("errors", missing.json())
    no_plan = call(
        setup.api, "POST", f"/api/v1/policy-drafts/{draft['id']}/publish-request", {"plan": "ppl_nope"}
    )
    assert no_plan.status_code == 400 and "plan" in json.dumps(no_plan.json())
    empty = call(
        setup.api,
        "POST",
        f"/api/v1/policy-drafts/{draft['id']}/replay",
        {"since": "2001-01-01T00:00:00Z", "until": "2001-01-02T00:00:00Z"},
    )
    assert empty.status_code == 400 and "since" in json.dumps(empty.json())
    reader = client_as(member(acme, "auditor"), acme)
    assert call(reader, "GET", f"/api/v1/policy-drafts/{draft['id']}").status_code == 200
    assert call(reader, "PUT", f"/api/v1/policy-drafts/{draft['id']}", {"source": "x"}).status_code == 403


def test_replay_of_a_draft_through_the_api(setup, acme, celery_inline):
    draft = call(setup.api, "POST", "/api/v1/policy-packs/baseline/drafts").json()
    response = call(setup.api, "POST", f"/api/v1/policy-drafts/{draft['id']}/replay")
    assert response.status_code == 202
    replay_id = response.json()["id"]
    body = call(setup.api, "GET", f"/api/v1/replays/{replay_id}").json()
    assert body["total"] == 3 and body["status"] in ("queued", "done")


def test_a_draft_may_extend_a_tenant_pack(setup, acme):
    from policies.services import policy_pack_upload

    policy_pack_upload(
        tenant=acme,
        text=(
            "apiVersion: cavra.policy/v2\nmetadata: {id: team-base, title: T, version: 1.0.0}\n"
            "defaults: {any: allow}\nrules:\n"
            "  - {id: team.secrets, action: read_file, match: {paths: ['.env']}, effect: block}\n"
        ),
        actor=None,
    )
    child = (
        "apiVersion: cavra.policy/v2\nmetadata: {id: team-web, title: W, version: 1.0.0}\n"
        "extends: [team-base, compliance-overlay]\n"
    )
    draft = call(setup.api, "POST", "/api/v1/policy-packs/new/drafts", {"source": child}).json()
    assert draft["valid"], draft["errors"]
    cycle = "apiVersion: cavra.policy/v2\nmetadata: {id: team-base, title: T, version: 1.0.1}\nextends: [team-base]\n"
    bad = call(setup.api, "PUT", f"/api/v1/policy-drafts/{draft['id']}", {"source": cycle})
    assert bad.status_code == 400 and "cycle" in json.dumps(bad.json())
