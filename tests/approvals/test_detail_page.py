"""The approval detail page shows what exactly would happen: the full command or path, the write's content
or diff as the agent sent it, MCP arguments, the rule and its reason, the agent's recent history and who
else reviewed; everything the agent sent is escaped."""

from __future__ import annotations

import html
import json

import pytest
from django.test import Client

from approvals.models import ApprovalRequest
from approvals.services import approval_request_approve, approval_request_open, reviewer_repository_grant_add
from core.roles import Role
from evidence.models import Decision
from policies.services import policy_pack_upload, rollout_set
from registry.services import agent_create, agent_credential_issue

pytestmark = pytest.mark.django_db

PACK = """\
apiVersion: cavra.policy/v2
metadata:
  id: detail-test
  title: Detail page test pack
  version: 1.0.0
  description: Writes to workflows and cluster changes need a reviewer.
defaults:
  any: allow
rules:
  - id: test.workflow.write
    action: write_file
    match:
      paths: [".github/workflows/*"]
    effect: require_approval
    severity: high
    reason: Workflow files run with repository secrets.
  - id: test.deploy
    action: execute_command
    match:
      commands:
        - program: kubectl
          subcommand: [apply, delete]
    effect: require_approval
    severity: high
    reason: Changes to a cluster need a reviewer.
"""

EVIL = "<script>alert('x')</script>"


@pytest.fixture
def world(acme, member):
    rollout_set(
        tenant=acme,
        version=policy_pack_upload(tenant=acme, text=PACK, actor=None),
        mode="enforce",
        actor=None,
    )
    owner = member(acme, Role.OPERATOR, email="owner@acme.test")
    agent = agent_create(tenant=acme, actor=None, name="ci-bot", profile="claude-code", owner=owner)
    _, token = agent_credential_issue(agent=agent, actor=None)
    alice = member(acme, Role.SECURITY_REVIEWER, email="alice@acme.test")
    bob = member(acme, Role.SECURITY_REVIEWER, email="bob@acme.test")
    for reviewer in (alice, bob):
        reviewer_repository_grant_add(tenant=acme, user=reviewer, repository_glob="acme/*")
    return type(
        "World",
        (),
        {"agent": agent, "alice": alice, "bob": bob, "client": Client(HTTP_AUTHORIZATION=f"Bearer {token}")},
    )


def ask(client: Client, **body) -> dict:
    response = client.post("/api/v1/decisions", json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


def _page(client_as, user, acme, approval_id: str) -> str:
    response = client_as(user, acme).get(f"/approvals/{approval_id}/")
    assert response.status_code == 200
    return response.content.decode()


def test_write_shows_path_content_rule_reason_history_and_escapes(acme, world, client_as):
    ask(world.client, action="read_file", target="README.md", repository="acme/web", environment="dev")
    content = f"name: deploy\non: push\n# {EVIL}\n"
    answer = ask(
        world.client,
        action="write_file",
        target=".github/workflows/deploy.yml",
        repository="acme/web",
        environment="dev",
        context={"cwd": "/work/web", "repo_root": "/work/web", "content": content, "ticket": EVIL},
    )
    assert answer["decision"] == "require_approval"
    page = _page(client_as, world.alice, acme, answer["approval"]["id"])
    assert "<script>alert" not in page  # nothing the agent sent becomes markup
    assert 'data-testid="target"><code>.github/workflows/deploy.yml</code>' in page
    assert "/work/web" in page
    assert html.escape(content) in page or content.replace("<", "&lt;").replace(">", "&gt;") in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert 'data-testid="rule-id">test.workflow.write<' in page
    assert "Workflow files run with repository secrets." in page
    assert "detail-test" in page and "v1.0.0" in page
    # The agent's recent history lists its earlier decision (the allowed read) as well as this one.
    history = page[page.index('data-testid="recent-decisions"') :]
    assert "README.md" in history and "Allow" in history and "Require approval" in history
    assert "Nobody has reviewed this request yet." in page
    # The queue row previews the same content (escaped), so a reviewer on a phone need not open it.
    queue = client_as(world.alice, acme).get("/approvals/").content.decode()
    row = queue[queue.index(f'id="item-{answer["approval"]["id"]}"') :]
    assert 'data-testid="change-preview"' in row and "# &lt;script&gt;alert" in row
    assert "<script>alert" not in queue


def test_edit_old_and_new_strings_become_a_diff(acme, world, client_as):
    answer = ask(
        world.client,
        action="write_file",
        target=".github/workflows/ci.yml",
        repository="acme/web",
        context={"old_string": "runs-on: ubuntu-22.04", "new_string": f"runs-on: self-hosted {EVIL}"},
    )
    page = _page(client_as, world.alice, acme, answer["approval"]["id"])
    assert '<span class="diff-del">-runs-on: ubuntu-22.04</span>' in page
    assert '<span class="diff-add">+runs-on: self-hosted &lt;script&gt;' in page
    assert "<script>alert" not in page


def test_unified_diff_sent_by_the_agent_is_shown_line_by_line(acme, world, client_as):
    diff = "--- a/x.yml\n+++ b/x.yml\n@@ -1 +1 @@\n-old\n+new\n"
    answer = ask(
        world.client,
        action="write_file",
        target=".github/workflows/x.yml",
        repository="acme/web",
        context={"diff": diff},
    )
    page = _page(client_as, world.alice, acme, answer["approval"]["id"])
    for kind, line in (("meta", "--- a/x.yml"), ("hunk", "@@ -1 +1 @@"), ("del", "-old"), ("add", "+new")):
        assert f'<span class="diff-{kind}">{line}</span>' in page


def test_write_without_content_says_so(acme, world, client_as):
    answer = ask(world.client, action="write_file", target=".github/workflows/y.yml", repository="acme/web")
    page = _page(client_as, world.alice, acme, answer["approval"]["id"])
    assert 'data-testid="no-content"' in page


def test_command_shows_the_full_command_line_and_who_else_reviewed(acme, world, client_as, member):
    command = "cd deploy && kubectl apply -f prod.yaml --prune"
    answer = ask(
        world.client, action="execute_command", target=command, repository="acme/web", environment="prod"
    )
    approval = ApprovalRequest.objects.get(public_id=answer["approval"]["id"])
    ApprovalRequest.objects.filter(pk=approval.pk).update(quorum=2)
    approval_request_approve(approval=approval, actor=world.bob, reason=f"Planned release {EVIL}")
    page = _page(client_as, world.alice, acme, approval.public_id)
    assert f'data-testid="command"><code>{html.escape(command)}</code>' in page
    reviews = page[page.index('data-testid="reviews"') :]
    assert "bob@acme.test" in reviews and "Approve" in reviews and "Planned release &lt;script&gt;" in reviews
    assert 'data-testid="quorum">1 of 2 approvals' in page
    assert 'data-testid="approve"' in page  # alice has not reviewed yet; bob's page offers no second vote
    assert 'data-testid="approve"' not in _page(client_as, world.bob, acme, approval.public_id)


def test_mcp_call_shows_server_tool_and_arguments(acme, world, client_as):
    # Stands in for decide(): the Decision row as the record step writes it, and the request it opens.
    arguments = {"sql": "DELETE FROM users WHERE id = 7", "note": EVIL}
    decision = Decision.objects.create(
        tenant=acme,
        agent_ref=world.agent.public_id,
        action="mcp_tool_call",
        target="db:query",
        decision="require_approval",
        rule_id="mcp.db.write",
        severity="high",
        reason="Database writes need a reviewer.",
        context={"mcp": {"server": "db", "tool": "query", "arguments": arguments}},
    )
    approval = approval_request_open(
        tenant=acme,
        agent=world.agent,
        decision=decision,
        action_digest="d" * 64,
        action="mcp_tool_call",
        target="db:query",
        repository=None,
        environment=None,
        rule_id="mcp.db.write",
        severity="high",
        reason="Database writes need a reviewer.",
        policy_pack="detail-test",
        policy_digest="sha256:x",
    )
    page = _page(client_as, world.alice, acme, approval.public_id)
    shown = page[page.index('data-testid="mcp-arguments"') :]
    assert "DELETE FROM users WHERE id = 7" in shown and "&lt;script&gt;" in shown
    assert "<script>alert" not in page


def test_other_tenant_and_wrong_role_cannot_see_the_detail(acme, globex, world, client_as, member):
    answer = ask(world.client, action="write_file", target=".github/workflows/z.yml", repository="acme/web")
    url = f"/approvals/{answer['approval']['id']}/"
    outsider = member(globex, Role.SECURITY_REVIEWER)
    assert client_as(outsider, globex).get(url).status_code == 404
    assert client_as(member(acme, Role.OPERATOR), acme).get(url).status_code == 403
