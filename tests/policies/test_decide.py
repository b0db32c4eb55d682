"""POST /api/v1/decisions: policy, registry, modes, fail-closed, evidence, isolation and bad input."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import Client

from evidence.models import Decision, EvidenceRecord
from policies.models import Rollout
from policies.services import rollout_set
from registry.models import Agent
from registry.services import agent_create, agent_credential_issue, agent_credential_revoke
from tests.policies.conftest import ask

pytestmark = pytest.mark.django_db


def test_allow_block_and_require_approval(rolled_out, agent_client):
    allow = ask(agent_client, action="read_file", target="src/app.py", repository="acme/payments")
    assert allow.status_code == 200, allow.content
    body = allow.json()
    assert body["decision"] == "allow" and body["decision_id"].startswith("dec_")
    assert body["policy"]["pack"] == "decide-test" and body["policy"]["mode"] == "enforce"
    assert body["evidence"]["seq"] >= 1 and len(body["evidence"]["hash"]) == 64

    block = ask(agent_client, action="read_file", target="./config/../.env").json()
    assert (block["decision"], block["rule_id"], block["severity"]) == ("block", "test.secrets.read", "high")
    assert block["reason"] == "Secrets are never read by agents."

    bypass = ask(agent_client, action="execute_command", target="sudo /bin/rm -fr /").json()
    assert (bypass["decision"], bypass["rule_id"]) == ("block", "test.rm-root")

    approval = ask(agent_client, action="execute_command", target="kubectl apply -f deploy.yaml").json()
    assert approval["decision"] == "require_approval"
    assert approval["approval"]["id"].startswith("apr_") and approval["approval"]["status"] == "pending"


def test_every_decision_has_its_row_and_evidence_in_the_chain(acme, rolled_out, agent_client):
    before = EvidenceRecord.objects.filter(tenant=acme).count()
    ids = [
        ask(agent_client, action="read_file", target=f"src/f{i}.py").json()["decision_id"] for i in range(5)
    ]
    rows = Decision.objects.filter(public_id__in=ids).select_related("evidence")
    assert len(rows) == 5 and all(
        r.evidence is not None and r.evidence.kind == "decision.recorded" for r in rows
    )
    assert EvidenceRecord.objects.filter(tenant=acme).count() == before + 5
    from evidence.services import chain_verify

    result = chain_verify(tenant=acme)
    assert result.ok, result.summary


def test_no_rollout_fails_closed(acme, agent_client):
    body = ask(agent_client, action="read_file", target="README.md").json()
    assert body["decision"] == "block" and body["rule_id"] == "portal.no_policy"
    assert "No policy is rolled out" in body["reason"]


def test_most_specific_rollout_wins(acme, policy_version, agent_client):
    rollout_set(tenant=acme, version=policy_version, mode="enforce", actor=None)
    rollout_set(tenant=acme, version=policy_version, mode="audit_only", actor=None, repository="acme/sandbox")
    rollout_set(
        tenant=acme,
        version=policy_version,
        mode="strict",
        actor=None,
        repository="acme/sandbox",
        environment="prod",
    )
    assert (
        ask(agent_client, action="read_file", target="x.py", repository="acme/web").json()["policy"]["mode"]
        == "enforce"
    )
    assert (
        ask(agent_client, action="read_file", target="x.py", repository="acme/sandbox").json()["policy"][
            "mode"
        ]
        == "audit_only"
    )
    strict = ask(
        agent_client, action="read_file", target="x.py", repository="acme/sandbox", environment="PROD"
    ).json()
    assert strict["policy"]["mode"] == "strict" and strict["decision"] == "require_approval"


def test_audit_only_allows_and_records_what_enforce_would_do(acme, policy_version, agent_client):
    rollout_set(tenant=acme, version=policy_version, mode="audit_only", actor=None)
    body = ask(agent_client, action="read_file", target=".env").json()
    assert body["decision"] == "allow"
    assert body["audit_only"] == {
        "decision": "block",
        "rule_id": "test.secrets.read",
        "reason": "Secrets are never read by agents.",
    }
    row = Decision.objects.get(public_id=body["decision_id"])
    assert row.context["would_have"]["decision"] == "block"


def test_suspended_agent_is_blocked_even_in_audit_only(acme, policy_version, agent, agent_client):
    rollout_set(tenant=acme, version=policy_version, mode="audit_only", actor=None)
    Agent.objects.filter(pk=agent.pk).update(status="suspended")
    body = ask(agent_client, action="read_file", target="README.md").json()
    assert (body["decision"], body["rule_id"]) == ("block", "registry.agent.suspended")


def test_profile_and_repository_checks(acme, rolled_out, member):
    reader = agent_create(
        tenant=acme, actor=None, name="reader", profile="read-only", allowed_repositories=["acme/docs"]
    )
    _, token = agent_credential_issue(agent=reader, actor=None)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    write = ask(client, action="write_file", target="docs/a.md", repository="acme/docs").json()
    assert (write["decision"], write["rule_id"]) == ("block", "registry.profile.action_not_allowed")
    elsewhere = ask(client, action="read_file", target="a.md", repository="acme/payments").json()
    assert (elsewhere["decision"], elsewhere["rule_id"]) == ("block", "registry.agent.repository_not_allowed")
    assert (
        ask(client, action="read_file", target="a.md", repository="acme/docs").json()["decision"] == "allow"
    )


def test_unknown_mcp_server_is_blocked(rolled_out, agent_client):
    body = ask(
        agent_client, action="mcp_tool_call", target="shady:exec", mcp={"server": "shady", "tool": "exec"}
    ).json()
    assert body["decision"] == "block" and body["rule_id"] == "registry.mcp.server_unknown"


def test_revoked_token_is_refused_on_the_next_request(rolled_out, agent, token, agent_client):
    assert ask(agent_client, action="read_file", target="a.py").status_code == 200
    credential = agent.credentials.get()
    agent_credential_revoke(credential=credential, actor=None)
    response = ask(agent_client, action="read_file", target="a.py")
    assert response.status_code == 401 and response["Content-Type"] == "application/problem+json"


def test_acme_token_cannot_read_or_affect_globex(acme, globex, rolled_out, agent_client, member, client_as):
    other = agent_create(tenant=globex, actor=None, name="globex-bot", profile="claude-code")
    _, globex_token = agent_credential_issue(agent=other, actor=None)
    globex_decision = ask(
        Client(HTTP_AUTHORIZATION=f"Bearer {globex_token}"), action="read_file", target="a"
    ).json()
    assert globex_decision["rule_id"] == "portal.no_policy"  # globex has no rollout; acme's pack is not used
    assert agent_client.get(f"/api/v1/decisions/{globex_decision['decision_id']}").status_code == 404
    listed = agent_client.get("/api/v1/decisions").json()["results"]
    assert globex_decision["decision_id"] not in [d["decision_id"] for d in listed]


def test_agent_sees_only_its_own_decisions_and_reviewers_see_all(
    acme, rolled_out, agent_client, member, client_as
):
    mine = ask(agent_client, action="read_file", target="a.py").json()["decision_id"]
    sibling = agent_create(tenant=acme, actor=None, name="sibling", profile="claude-code")
    _, sibling_token = agent_credential_issue(agent=sibling, actor=None)
    theirs = ask(
        Client(HTTP_AUTHORIZATION=f"Bearer {sibling_token}"), action="read_file", target="b.py"
    ).json()["decision_id"]
    assert agent_client.get(f"/api/v1/decisions/{theirs}").status_code == 404
    reviewer = client_as(member(acme, "security_reviewer"), acme)
    ids = [d["decision_id"] for d in reviewer.get("/api/v1/decisions?decision=allow").json()["results"]]
    assert {mine, theirs} <= set(ids)
    assert reviewer.get("/api/v1/decisions?since=yesterday").status_code == 400


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"target": "x"}, "action"),
        ({"action": "launch_missiles", "target": "x"}, "action"),
        ({"action": "read_file"}, "target"),
        ({"action": "read_file", "target": "   "}, "target"),
        ({"action": "read_file", "target": 42, "context": "nope"}, "context"),
        ({"action": "mcp_tool_call", "target": "no-colon"}, "mcp"),
        ({"action": "read_file", "target": "x" * 9000}, "target"),
    ],
)
def test_bad_input_names_the_field_and_records_nothing(acme, rolled_out, agent_client, body, field):
    before = Decision.objects.count()
    response = ask(agent_client, **body)
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert field in response.json()["errors"]
    assert Decision.objects.count() == before


def test_malformed_json_and_oversized_body(rolled_out, agent_client):
    bad = agent_client.post("/api/v1/decisions", "{not json", content_type="application/json")
    assert bad.status_code == 400 and bad["Content-Type"] == "application/problem+json"
    huge = agent_client.post(
        "/api/v1/decisions",
        json.dumps({"action": "read_file", "target": "a", "context": {"x": "y" * 70000}}),
        content_type="application/json",
    )
    assert huge.status_code == 413


def test_anonymous_and_human_session_cannot_post_decisions(acme, rolled_out, member, client_as):
    assert ask(Client(), action="read_file", target="a").status_code == 401
    human = client_as(member(acme, "tenant_admin"), acme)
    assert ask(human, action="read_file", target="a").status_code in (401, 403)


def test_idempotency_key_returns_the_first_answer(acme, rolled_out, agent_client):
    first = ask(
        agent_client, action="read_file", target="a.py", headers={"HTTP_IDEMPOTENCY_KEY": "k-1"}
    ).json()
    again = ask(agent_client, action="read_file", target="a.py", headers={"HTTP_IDEMPOTENCY_KEY": "k-1"})
    assert again.json()["decision_id"] == first["decision_id"] and again["Idempotent-Replayed"] == "true"
    assert Decision.objects.filter(tenant=acme).count() == 1
    other = ask(agent_client, action="read_file", target="b.py", headers={"HTTP_IDEMPOTENCY_KEY": "k-1"})
    assert other.status_code == 422


def test_policy_that_cannot_be_evaluated_fails_closed(acme, rolled_out, agent_client):
    from policies.models import PolicyVersion

    version = Rollout.objects.get(tenant=acme).version
    PolicyVersion.objects.filter(pk=version.pk).update(compiled_json='{"broken": true}', digest="0" * 64)
    body = ask(agent_client, action="read_file", target="README.md").json()
    assert (body["decision"], body["rule_id"]) == ("block", "portal.policy_error")


def test_database_unreachable_answers_503_block(rolled_out, agent_client, monkeypatch):
    # The agent authenticates first; then the decision path loses the database.
    from django.db import DatabaseError

    from policies.decisions import resolve as resolve_step

    def unreachable(**kwargs):
        raise DatabaseError("connection refused")

    monkeypatch.setattr(resolve_step, "rollout_resolve", unreachable)
    response = ask(agent_client, action="read_file", target="README.md")
    assert response.status_code == 503
    assert response.json()["decision"] == "block"


def test_sessions_group_decisions(acme, rolled_out, agent_client):
    session = agent_client.post(
        "/api/v1/sessions", json.dumps({"repository": "acme/web"}), content_type="application/json"
    )
    assert session.status_code == 201
    sid = session.json()["session_id"]
    decided = ask(agent_client, action="read_file", target="a.py", session_id=sid).json()
    assert decided["session_id"] == sid
    assert agent_client.get(f"/api/v1/sessions/{sid}").json()["agent"].startswith("agt_")


def test_health(db):
    response = Client().get("/api/v1/health")
    assert response.status_code == 200 and response.json()["database"] == "ok"
    assert connection.is_usable()


def test_suspended_tenant_blocks_every_agent(acme, rolled_out, agent_client):
    from tenants.models import Tenant

    Tenant.objects.filter(pk=acme.pk).update(entitlement_status="suspended")
    body = ask(agent_client, action="read_file", target="README.md").json()
    assert (body["decision"], body["rule_id"]) == ("block", "portal.tenant_inactive")


def test_rollout_changes_apply_on_the_next_request(acme, policy_version, agent_client):
    from policies.services import rollout_remove

    rollout = rollout_set(tenant=acme, version=policy_version, mode="enforce", actor=None)
    assert ask(agent_client, action="read_file", target=".env").json()["decision"] == "block"
    rollout_set(tenant=acme, version=policy_version, mode="audit_only", actor=None)
    assert ask(agent_client, action="read_file", target=".env").json()["decision"] == "allow"
    rollout_remove(rollout=Rollout.objects.get(pk=rollout.pk), actor=None)
    assert ask(agent_client, action="read_file", target=".env").json()["rule_id"] == "portal.no_policy"


def test_unknown_or_foreign_session_is_a_field_error(acme, rolled_out, agent_client):
    from evidence.models import AgentSession

    before = Decision.objects.count()
    missing = ask(agent_client, action="read_file", target="a.py", session_id="ses_nope")
    assert missing.status_code == 400 and "session_id" in missing.json()["errors"]
    foreign = AgentSession.objects.create(tenant=acme, agent_ref="agt_someone_else", agent_name="x")
    response = ask(agent_client, action="read_file", target="a.py", session_id=foreign.public_id)
    assert response.status_code == 400 and "session_id" in response.json()["errors"]
    assert Decision.objects.count() == before


def test_decision_and_session_lists_have_a_fixed_query_count(
    acme, rolled_out, agent_client, member, client_as, django_assert_max_num_queries
):
    reviewer = client_as(member(acme, "security_reviewer"), acme)
    ask(agent_client, action="read_file", target="warm.py")
    with django_assert_max_num_queries(6):  # one decision listed
        reviewer.get("/api/v1/decisions")
    for i in range(20):
        ask(agent_client, action="read_file", target=f"f{i}.py")
    with django_assert_max_num_queries(6):  # twenty-one listed: the same queries
        body = reviewer.get("/api/v1/decisions").json()
    assert len(body["results"]) == 21
    with django_assert_max_num_queries(6):
        reviewer.get("/api/v1/sessions")


def test_reviewer_reads_activity_with_a_personal_token(acme, rolled_out, agent_client, member):
    from tenants.tokens import personal_token_issue

    decided = ask(agent_client, action="read_file", target="a.py").json()["decision_id"]
    reviewer = member(acme, "security_reviewer")
    _, plaintext = personal_token_issue(user=reviewer, tenant=acme, name="bot", actor=reviewer)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert client.get(f"/api/v1/decisions/{decided}").json()["decision_id"] == decided
    assert (
        ask(client, action="read_file", target="a.py").status_code == 401
    )  # people do not ask for decisions
