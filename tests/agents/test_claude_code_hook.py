"""`cavra hook claude-code` as Claude Code runs it: a separate process fed the documented PreToolUse JSON,
asking a running portal, answering with hookSpecificOutput; every failure is a deny."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from approvals.models import ApprovalRequest
from approvals.services import approval_request_approve, approval_request_deny
from evidence.models import Decision
from registry.services import agent_credential_revoke
from tests.agents.conftest import REPOSITORY, hook_answer, run_cavra, start_cavra

pytestmark = pytest.mark.django_db(transaction=True)

PROJECT = "/home/dev/web"


def payload(tool_name: str, tool_input: dict, **extra) -> str:
    document = {
        "session_id": "abc123-session",
        "transcript_path": "/home/dev/.claude/projects/web/abc123.jsonl",
        "cwd": PROJECT,
        "permission_mode": "default",
        "hook_event_name": "PreToolUse",
        "tool_name": tool_name,
        "tool_input": tool_input,
        "tool_use_id": "toolu_01ABC123",
    }
    document.update(extra)
    return json.dumps(document)


def hook(env, tool_name, tool_input, **extra):
    return run_cavra(["hook", "claude-code"], env, stdin=payload(tool_name, tool_input, **extra))


@pytest.mark.parametrize(
    "tool_name, tool_input, verdict, action, target",
    [
        ("Bash", {"command": "ls -la", "description": "List"}, "allow", "execute_command", "ls -la"),
        ("Bash", {"command": "sudo rm -rf /"}, "deny", "execute_command", "sudo rm -rf /"),
        ("Read", {"file_path": f"{PROJECT}/.env"}, "deny", "read_file", f"{PROJECT}/.env"),
        ("Read", {"file_path": f"{PROJECT}/README.md"}, "allow", "read_file", f"{PROJECT}/README.md"),
        ("Glob", {"pattern": "src/**/*.py", "path": PROJECT}, "allow", "read_file", f"{PROJECT}/src"),
        ("Grep", {"pattern": "TODO", "path": f"{PROJECT}/certs/server.pem"}, "deny", "read_file", None),
        ("Write", {"file_path": f"{PROJECT}/.env", "content": "X=1"}, "deny", "write_file", None),
        (
            "Edit",
            {"file_path": f"{PROJECT}/a.py", "old_string": "a", "new_string": "b"},
            "allow",
            "write_file",
            None,
        ),
        ("MultiEdit", {"file_path": f"{PROJECT}/b.py", "edits": []}, "allow", "write_file", None),
        (
            "NotebookEdit",
            {"notebook_path": f"{PROJECT}/n.ipynb", "new_source": "x"},
            "allow",
            "write_file",
            None,
        ),
        (
            "WebFetch",
            {"url": "https://example.com/", "prompt": "summarise"},
            "allow",
            "network_request",
            None,
        ),
        ("WebSearch", {"query": "cavra docs"}, "allow", "network_request", "websearch:cavra docs"),
    ],
)
def test_each_tool_is_mapped_and_decided_by_the_portal(
    portal, agent_env, tool_name, tool_input, verdict, action, target
):
    out = hook_answer(hook(agent_env, tool_name, tool_input))
    assert out["permissionDecision"] == verdict, out
    decision = Decision.objects.get(tenant=portal.tenant)
    assert decision.action == action
    assert decision.repository == REPOSITORY
    assert decision.agent_ref == portal.agent.public_id
    assert decision.context["request_context"]["tool_name"] == tool_name
    assert decision.context["request_context"]["repo_root"] == PROJECT
    if target:
        assert decision.target == target
    assert decision.public_id in out["permissionDecisionReason"]


def test_block_reason_names_the_rule(portal, agent_env):
    out = hook_answer(hook(agent_env, "Read", {"file_path": f"{PROJECT}/.env"}))
    assert "test.secrets.read" in out["permissionDecisionReason"]
    assert "Secrets are never read by agents" in out["permissionDecisionReason"]


def test_mcp_tool_is_an_mcp_tool_call_and_an_unknown_server_is_denied(portal, agent_env):
    out = hook_answer(hook(agent_env, "mcp__shell_server__run_command", {"cmd": "id"}))
    assert out["permissionDecision"] == "deny"
    decision = Decision.objects.get(tenant=portal.tenant)
    assert (decision.action, decision.target) == ("mcp_tool_call", "shell_server:run_command")
    assert decision.context["mcp"] == {
        "server": "shell_server",
        "tool": "run_command",
        "arguments": {"cmd": "id"},
    }


@pytest.mark.parametrize(
    "tool_name, tool_input",
    [
        ("TodoWrite", {"todos": []}),
        ("Bash", {}),
        ("Bash", {"command": ""}),
        ("Read", {"file_path": 7}),
        ("mcp__x", {}),
    ],
)
def test_unknown_tool_or_malformed_input_is_denied_without_asking(portal, agent_env, tool_name, tool_input):
    out = hook_answer(hook(agent_env, tool_name, tool_input))
    assert out["permissionDecision"] == "deny"
    assert not Decision.objects.exists()


@pytest.mark.parametrize("stdin", ["not json", "[1, 2]", "", json.dumps({"hook_event_name": "Stop"})])
def test_unreadable_payload_exits_2_with_the_reason_on_stderr(portal, agent_env, stdin):
    result = run_cavra(["hook", "claude-code"], agent_env, stdin=stdin)
    assert result.returncode == 2
    assert result.stdout == b""
    assert b"CAVRA blocked" in result.stderr


def test_revoked_token_is_denied(portal, agent_env):
    agent_credential_revoke(credential=portal.credential, actor=None)
    out = hook_answer(hook(agent_env, "Bash", {"command": "ls"}))
    assert out["permissionDecision"] == "deny"
    assert "revoked" in out["permissionDecisionReason"]


def test_unknown_token_is_denied(portal, agent_env):
    out = hook_answer(hook({**agent_env, "CAVRA_TOKEN": "cvr_" + "x" * 40}, "Bash", {"command": "ls"}))
    assert out["permissionDecision"] == "deny"
    assert "401" in out["permissionDecisionReason"]


def test_missing_configuration_is_denied(portal, agent_env):
    env = {k: v for k, v in agent_env.items() if k != "CAVRA_TOKEN"}
    out = hook_answer(hook(env, "Bash", {"command": "ls"}))
    assert out["permissionDecision"] == "deny"
    assert "No agent token" in out["permissionDecisionReason"]


def test_token_from_a_credentials_file_outside_the_project(portal, agent_env, tmp_path):
    creds = tmp_path / "config" / "cavra" / "credentials.json"
    creds.parent.mkdir(parents=True)
    creds.write_text(json.dumps({"url": portal.url, "token": portal.token, "repository": REPOSITORY}))
    env = {k: v for k, v in agent_env.items() if k not in ("CAVRA_TOKEN", "CAVRA_URL", "CAVRA_REPOSITORY")}
    assert hook_answer(hook(env, "Bash", {"command": "ls"}))["permissionDecision"] == "allow"
    # the same file inside the project directory is refused: secrets never live in the repository
    project = tmp_path / "project"
    (project / ".claude").mkdir(parents=True)
    inside = project / ".claude" / "credentials.json"
    inside.write_text(creds.read_text())
    out = hook_answer(
        hook({**env, "CAVRA_CREDENTIALS": str(inside)}, "Bash", {"command": "ls"}, cwd=str(project))
    )
    assert out["permissionDecision"] == "deny"
    assert "inside the project" in out["permissionDecisionReason"]


def test_portal_stopped_is_denied(portal, agent_env):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = hook_answer(hook({**agent_env, "CAVRA_URL": f"http://127.0.0.1:{port}"}, "Bash", {"command": "ls"}))
    assert out["permissionDecision"] == "deny"
    assert (
        "unreachable" in out["permissionDecisionReason"]
        and "failing closed" in out["permissionDecisionReason"]
    )


class _Stub:
    """A misbehaving portal on loopback: answers slowly, or with a given status and body."""

    def __init__(self, *, delay: float = 0.0, status: int = 200, body: bytes = b"{}"):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(stub.delay)
                try:
                    self.send_response(stub.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(stub.body)))
                    self.end_headers()
                    self.wfile.write(stub.body)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.delay, self.status, self.body = delay, status, body
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(
    "stub, words",
    [
        ({"delay": 60.0}, "did not answer within 1 s"),
        ({"status": 503, "body": b'{"decision": "block", "detail": "database down"}'}, "cannot decide (503)"),
        ({"status": 500, "body": b"<html>oops</html>"}, "cannot decide (500)"),
        ({"status": 200, "body": b"<html>captive portal</html>"}, "not JSON"),
        ({"status": 200, "body": b'{"decision": "maybe"}'}, "no decision"),
    ],
)
def test_slow_or_broken_portal_is_denied(portal, agent_env, stub, words):
    server = _Stub(**stub)
    try:
        started = time.monotonic()
        env = {**agent_env, "CAVRA_URL": server.url, "CAVRA_TIMEOUT": "1"}
        out = hook_answer(hook(env, "Bash", {"command": "ls"}))
        # The slow stub holds its answer for 60 s; the hook gives up after its 1 s timeout. The bound is
        # far from both so that a loaded machine (interpreter start-up alone can take seconds) cannot
        # fail it, while a hook that waited for the stub would.
        assert time.monotonic() - started < 30
    finally:
        server.close()
    assert out["permissionDecision"] == "deny"
    assert words in out["permissionDecisionReason"]


DEPLOY = {"command": "kubectl apply -f deploy.yaml"}


def test_require_approval_unanswered_denies_with_the_link_then_a_retry_reuses_the_approval(portal, agent_env):
    first = hook_answer(hook(agent_env, "Bash", DEPLOY))
    assert first["permissionDecision"] == "deny"
    approval = ApprovalRequest.objects.get(tenant=portal.tenant)
    assert approval.public_id in first["permissionDecisionReason"]
    assert f"{portal.url}/approvals/{approval.public_id}" in first["permissionDecisionReason"]
    assert "retry exactly the same action" in first["permissionDecisionReason"]

    # still pending: the retry asks nothing new of the reviewer and opens no second approval
    again = hook_answer(hook(agent_env, "Bash", DEPLOY))
    assert again["permissionDecision"] == "deny"
    assert ApprovalRequest.objects.filter(tenant=portal.tenant).count() == 1

    approval_request_approve(approval=approval, actor=portal.reviewer, reason="release window")
    retried = hook_answer(hook(agent_env, "Bash", DEPLOY))
    assert retried["permissionDecision"] == "allow", retried
    approval.refresh_from_db()
    assert approval.status == "consumed"
    assert Decision.objects.filter(tenant=portal.tenant, decision="allow").count() == 1

    # single use: the next identical call needs a new approval
    fourth = hook_answer(hook(agent_env, "Bash", DEPLOY))
    assert fourth["permissionDecision"] == "deny"
    assert ApprovalRequest.objects.filter(tenant=portal.tenant).count() == 2


def test_an_approval_is_not_reused_for_a_different_action(portal, agent_env):
    hook_answer(hook(agent_env, "Bash", DEPLOY))
    approval = ApprovalRequest.objects.get(tenant=portal.tenant)
    approval_request_approve(approval=approval, actor=portal.reviewer, reason="ok")
    other = hook_answer(hook(agent_env, "Bash", {"command": "kubectl apply -f other.yaml"}))
    assert other["permissionDecision"] == "deny"
    approval.refresh_from_db()
    assert approval.status == "approved"  # untouched, still waiting for its own action


def _approval_opened(tenant, within: float = 40):
    """The approval request the hook's decision opened (polled: the hook runs in another process)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        approval = ApprovalRequest.objects.filter(tenant=tenant).first()
        if approval is not None:
            return approval
        time.sleep(0.1)
    raise AssertionError(f"no approval request opened within {within} s")


def _hook_waiting_for_approval(portal, agent_env, tmp_path):
    """A hook started on a deploy (require_approval), long-polling for the reviewer: (process, approval)."""
    proc = start_cavra(
        ["hook", "claude-code"],
        {**agent_env, "CAVRA_APPROVAL_WAIT": "40"},
        stdin=payload("Bash", DEPLOY),
        tmp_path=tmp_path,
    )
    return proc, _approval_opened(portal.tenant)


def test_require_approval_waits_for_the_reviewer_then_allows(portal, agent_env, tmp_path):
    proc, approval = _hook_waiting_for_approval(portal, agent_env, tmp_path)
    time.sleep(0.5)  # the hook is now long-polling
    approval_request_approve(approval=approval, actor=portal.reviewer, reason="go")
    stdout, stderr = proc.communicate(timeout=40)
    assert proc.returncode == 0, stderr
    out = json.loads(stdout)["hookSpecificOutput"]
    assert out["permissionDecision"] == "allow", out
    assert approval.public_id in out["permissionDecisionReason"]
    approval.refresh_from_db()
    assert approval.status == "consumed"


def test_a_reviewer_denial_is_a_deny_with_the_reviewers_reason(portal, agent_env, tmp_path):
    proc, approval = _hook_waiting_for_approval(portal, agent_env, tmp_path)
    approval_request_deny(approval=approval, actor=portal.reviewer, reason="not during the freeze")
    stdout, _ = proc.communicate(timeout=40)
    out = json.loads(stdout)["hookSpecificOutput"]
    assert out["permissionDecision"] == "deny"
    assert "not during the freeze" in out["permissionDecisionReason"]


def test_init_writes_the_hook_into_claude_settings_without_a_secret(portal, agent_env, tmp_path):
    project = tmp_path / "project"
    (project / ".claude").mkdir(parents=True)
    settings = project / ".claude" / "settings.json"
    settings.write_text(json.dumps({"permissions": {"deny": ["Read(./secrets/**)"]}}))
    for _ in range(2):  # idempotent: a second run adds nothing
        result = run_cavra(["init", "claude-code", "--project", str(project)], agent_env)
        assert result.returncode == 0, result.stderr
    document = json.loads(settings.read_text())
    assert document["permissions"] == {"deny": ["Read(./secrets/**)"]}
    assert document["hooks"]["PreToolUse"] == [
        {"matcher": "*", "hooks": [{"type": "command", "command": "cavra hook claude-code", "timeout": 120}]}
    ]
    assert document["hooks"]["PostToolUse"] == [
        {"matcher": "*", "hooks": [{"type": "command", "command": "cavra hook claude-code", "timeout": 30}]}
    ]
    assert portal.token not in settings.read_text()
    assert b"the agent token works" in result.stdout
    bad = run_cavra(
        ["init", "claude-code", "--project", str(project)], {**agent_env, "CAVRA_TOKEN": "cvr_bad"}
    )
    assert bad.returncode == 1 and b"cannot reach the portal" in bad.stderr


def test_post_tool_use_records_the_outcome_against_the_decision_once(portal, agent_env):
    from evidence.models import EvidenceRecord

    allowed = hook_answer(hook(agent_env, "Bash", {"command": "ls"}))
    assert allowed["permissionDecision"] == "allow"
    decision = Decision.objects.get(tenant=portal.tenant)
    post = payload("Bash", {"command": "ls"}, hook_event_name="PostToolUse",
                   tool_response={"stdout": "a\\nb", "stderr": "", "interrupted": False})  # fmt: skip
    result = run_cavra(["hook", "claude-code"], agent_env, stdin=post)
    assert (result.returncode, result.stdout) == (0, b""), result.stderr
    record = EvidenceRecord.objects.get(tenant=portal.tenant, kind="decision.outcome")
    assert record.subject == decision.public_id
    assert record.payload["outcome"] == "completed" and record.payload["tool_use_id"] == "toolu_01ABC123"
    # the same PostToolUse again (a retry) attaches nothing new
    assert run_cavra(["hook", "claude-code"], agent_env, stdin=post).returncode == 0
    assert EvidenceRecord.objects.filter(tenant=portal.tenant, kind="decision.outcome").count() == 1


def test_post_tool_use_with_the_portal_down_is_a_non_blocking_error(portal, agent_env):
    hook_answer(hook(agent_env, "Write", {"file_path": f"{PROJECT}/a.py", "content": "x"}))
    post = payload(
        "Write",
        {"file_path": f"{PROJECT}/a.py"},
        hook_event_name="PostToolUse",
        tool_response={"success": False},
    )
    result = run_cavra(["hook", "claude-code"], {**agent_env, "CAVRA_URL": "http://127.0.0.1:9"}, stdin=post)
    assert result.returncode == 1 and b"could not record the outcome" in result.stderr


def test_a_warn_outcome_is_ask_and_a_pending_approval_is_never_ask(portal, agent_env):
    """v1 `warn` (allowed, tell the user) -> Claude Code's `ask`; with CAVRA_APPROVAL_WAIT=0 a
    require_approval stays deny: `ask` would let the local user approve in the reviewer's place."""
    from policies.services import policy_pack_upload, rollout_set

    warn_pack = (
        "metadata: {id: warn-pack, version: '1'}\ncommands: {warn: ['npm publish*'], allow: ['ls*']}\n"
    )
    version = policy_pack_upload(tenant=portal.tenant, text=warn_pack, actor=None)
    rollout_set(tenant=portal.tenant, version=version, mode="enforce", actor=None, repository="acme/warned")
    env = {**agent_env, "CAVRA_REPOSITORY": "acme/warned"}
    warned = hook_answer(hook(env, "Bash", {"command": "npm publish --tag next"}))
    assert warned["permissionDecision"] == "ask", warned
    assert warned["permissionDecisionReason"].startswith("CAVRA warns (confirm to proceed)")
    assert "commands.warn" in warned["permissionDecisionReason"]
    plain = hook_answer(hook(env, "Bash", {"command": "ls"}))
    assert plain["permissionDecision"] == "allow"
    pending = hook_answer(hook(agent_env, "Bash", DEPLOY))
    assert (
        pending["permissionDecision"] == "deny" and "requires approval" in pending["permissionDecisionReason"]
    )
