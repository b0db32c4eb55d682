"""`cavra ci check` as a pipeline runs it: a real git repository with real commits, the real command
against a running portal, authenticated by an agent token or a provider-shaped OIDC token from a local
JWKS issuer; the PR attestation and the exit code say what the portal decided."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from evidence.models import Decision, EvidenceRecord
from policies.services import policy_pack_upload, rollout_set
from registry.services import agent_create, agent_credential_issue, workload_identity_bind
from tests.agents.conftest import run_cavra
from tests.registry.test_workload_identity import Provider

pytestmark = pytest.mark.django_db(transaction=True)

CI_PACK = """\
apiVersion: cavra.policy/v2
metadata: {id: ci-test, title: CI check test pack, version: 2.0.0, description: CI check tests.}
defaults: {any: allow}
rules:
  - id: ci.secrets
    action: write_file
    match: {paths: [".env", "*.pem"]}
    effect: block
    severity: high
    reason: Secrets are never committed.
  - id: ci.workflow
    action: write_file
    match: {paths: [".github/workflows/**", ".gitlab-ci.yml"]}
    effect: require_approval
    severity: high
    reason: Pipeline changes need a reviewer.
  - id: ci.push.main
    action: git_operation
    match: {git: {operation: push, branch: [main]}}
    effect: block
    severity: high
    reason: Main changes only through a reviewed merge.
"""
AUDIENCE = "cavra:acme-ci"


def git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "dev@acme.test")
    git(repo, "config", "user.name", "Dev")
    (repo / "README.md").write_text("hello\n")
    (repo / "old.txt").write_text("old\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    git(repo, "checkout", "-qb", "feature")
    return repo


def commit(repo, files: dict[str, str | None], message="change"):
    for name, text in files.items():
        path = repo / name
        if text is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


@pytest.fixture
def ci_portal(live_server, acme):
    version = policy_pack_upload(tenant=acme, text=CI_PACK, actor=None)
    rollout_set(tenant=acme, version=version, mode="enforce", actor=None)
    agent = agent_create(tenant=acme, actor=None, name="ci-payments", profile="ci-runner")
    _, token = agent_credential_issue(agent=agent, actor=None)
    return {"url": live_server.url, "tenant": acme, "agent": agent, "token": token, "version": version}


@pytest.fixture
def ci_env(tmp_path, ci_portal):
    import os

    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "CAVRA_URL": ci_portal["url"],
        "CAVRA_TOKEN": ci_portal["token"],
        "GITHUB_REPOSITORY": "acme/payments",
        "GITHUB_ACTIONS": "true",
        "GITHUB_HEAD_REF": "feature",
    }


def ci_check(repo, env, *extra):
    out = repo.parent / "out"
    result = run_cavra(
        ["ci", "check", "--base", "main", "--head", "HEAD", "--out", str(out), *extra], env, cwd=repo
    )
    attestation = (
        json.loads((out / "pr-attestation.json").read_text())
        if (out / "pr-attestation.json").exists()
        else None
    )
    markdown = (out / "pr-attestation.md").read_text() if (out / "pr-attestation.md").exists() else ""
    return result, attestation, markdown


def test_an_allowed_change_passes_with_an_attestation(repo, ci_env, ci_portal):
    commit(repo, {"src/app.py": "print(1)\n", "old.txt": None, "infra/main.tf": "resource {}\n"})
    result, attestation, markdown = ci_check(repo, ci_env)
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert attestation["type"] == "cavra.pr-attestation/v1" and attestation["result"] == "allowed"
    assert attestation["repository"] == "acme/payments"
    assert (
        attestation["head"]["commit"]
        == subprocess.check_output(["git", "rev-parse", "HEAD"], cwd=repo).decode().strip()
    )
    rows = {(r["action"], r["target"]): r for r in attestation["decisions"]}
    assert set(rows) == {
        ("write_file", "infra/main.tf"),
        ("write_file", "old.txt"),
        ("write_file", "src/app.py"),
        ("git_operation", "git push origin HEAD:feature"),
    }
    assert rows[("write_file", "infra/main.tf")]["kind"] == "iac"
    assert attestation["policies"] == [
        {"pack": "ci-test", "version": "2.0.0", "digest": ci_portal["version"].digest, "mode": "enforce"}
    ]
    for row in attestation["decisions"]:
        record = EvidenceRecord.objects.get(tenant=ci_portal["tenant"], seq=row["evidence"]["seq"])
        assert record.hash == row["evidence"]["hash"] and record.subject == row["decision_id"]
    deleted = Decision.objects.get(public_id=rows[("write_file", "old.txt")]["decision_id"])
    assert deleted.context["request_context"]["change"] == "deleted"
    assert deleted.agent_ref == ci_portal["agent"].public_id and deleted.repository == "acme/payments"
    assert "Result: **allowed**" in markdown and ci_portal["version"].digest in markdown


def test_a_committed_secret_blocks(repo, ci_env):
    commit(repo, {"config/.env": "TOKEN=1\n", "src/ok.py": "x\n"})
    result, attestation, markdown = ci_check(repo, ci_env)
    assert result.returncode == 1
    assert attestation["result"] == "blocked"
    blocked = [r for r in attestation["decisions"] if r["decision"] == "block"]
    assert [(r["target"], r["rule_id"]) for r in blocked] == [("config/.env", "ci.secrets")]
    assert b"block: write_file config/.env" in result.stdout
    assert "**BLOCK**" in markdown


def test_a_workflow_change_waits_for_approval(repo, ci_env, ci_portal):
    commit(repo, {".github/workflows/ci.yml": "on: push\n"})
    result, attestation, markdown = ci_check(repo, ci_env)
    assert result.returncode == 3
    row = next(r for r in attestation["decisions"] if r["target"] == ".github/workflows/ci.yml")
    assert (row["kind"], row["decision"], row["rule_id"]) == ("workflow", "require_approval", "ci.workflow")
    assert row["approval"]["url"].startswith(ci_portal["url"] + "/approvals/apr_")
    assert row["approval"]["url"] in markdown


def test_a_push_to_main_blocks(repo, ci_env):
    commit(repo, {"src/app.py": "x\n"})
    result, attestation, _ = ci_check(repo, {**ci_env, "GITHUB_HEAD_REF": "", "GITHUB_REF_NAME": "main"})
    assert result.returncode == 1
    push = next(r for r in attestation["decisions"] if r["action"] == "git_operation")
    assert (push["decision"], push["rule_id"]) == ("block", "ci.push.main")


def test_portal_unreachable_fails_closed(repo, ci_env):
    commit(repo, {"src/app.py": "x\n"})
    result, attestation, _ = ci_check(
        repo, {**ci_env, "CAVRA_URL": "http://127.0.0.1:9", "CAVRA_TIMEOUT": "1"}
    )
    assert result.returncode == 4
    assert attestation["result"] == "unavailable"
    assert all(r["decision"] is None for r in attestation["decisions"])


def test_no_credential_fails_closed(repo, ci_env):
    commit(repo, {"src/app.py": "x\n"})
    env = {k: v for k, v in ci_env.items() if k != "CAVRA_TOKEN"}
    result, attestation, _ = ci_check(repo, env)
    assert result.returncode == 4 and attestation is None
    assert b"no credential" in result.stderr


def test_a_bad_ref_is_a_usage_error(repo, ci_env):
    result = run_cavra(["ci", "check", "--base", "nope", "--head", "HEAD"], ci_env, cwd=repo)
    assert result.returncode == 2 and b"nope" in result.stderr


# ------------------------------------------------------------------ workload identity (OIDC)


@pytest.fixture
def provider(settings):
    settings.CAVRA_WORKLOAD_IDENTITY_ALLOW_HTTP = True  # the loopback issuer speaks plain HTTP
    p = Provider()
    p.add_key("RS256")
    yield p
    p.stop()


@pytest.fixture
def bound(ci_portal, provider):
    return workload_identity_bind(
        agent=ci_portal["agent"], actor=None, issuer=provider.issuer, audience=AUDIENCE,
        subject="repo:acme/payments:*", required_claims={"repository": "acme/payments"},
    )  # fmt: skip


def oidc_env(ci_env, token):
    env = {k: v for k, v in ci_env.items() if k != "CAVRA_TOKEN"}
    return {**env, "CAVRA_ID_TOKEN": token}


def test_an_oidc_token_authenticates_the_bound_agent(repo, ci_env, ci_portal, provider, bound):
    commit(repo, {"src/app.py": "x\n"})
    token = provider.token(
        aud=AUDIENCE, ref="refs/heads/feature", sub="repo:acme/payments:ref:refs/heads/feature"
    )
    result, attestation, _ = ci_check(repo, oidc_env(ci_env, token))
    assert result.returncode == 0, (result.stdout, result.stderr)
    ids = [r["decision_id"] for r in attestation["decisions"]]
    assert set(Decision.objects.filter(public_id__in=ids).values_list("agent_ref", flat=True)) == {
        ci_portal["agent"].public_id
    }


@pytest.mark.parametrize(
    "claims, words",
    [
        ({"aud": "cavra:someone-else"}, b"refused"),
        (
            {"exp": int(time.time()) - 600, "iat": int(time.time()) - 1200, "nbf": int(time.time()) - 1200},
            b"refused",
        ),
        ({"repository": "evil/payments", "sub": "repo:evil/payments:ref:refs/heads/x"}, b"refused"),
    ],
)
def test_a_wrong_audience_expired_or_foreign_token_is_refused(repo, ci_env, provider, bound, claims, words):
    commit(repo, {"src/app.py": "x\n"})
    result, attestation, _ = ci_check(repo, oidc_env(ci_env, provider.token(**{"aud": AUDIENCE, **claims})))
    assert result.returncode == 4
    assert attestation["result"] == "unavailable"
    assert words in result.stdout
    assert not Decision.objects.exists()


def test_github_actions_token_request_endpoint(repo, ci_env, ci_portal, provider, bound):
    """GitHub's flow: the job asks ACTIONS_ID_TOKEN_REQUEST_URL (with its request bearer) for a token
    with the wanted audience; a local endpoint that speaks that protocol mints it."""
    requests: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            query = parse_qs(urlsplit(self.path).query)
            requests.append(
                {"auth": self.headers.get("Authorization"), "audience": query.get("audience", [""])[0]}
            )
            if self.headers.get("Authorization") != "Bearer request-token":
                self.send_error(403)
                return
            body = json.dumps({"value": provider.token(aud=query["audience"][0])}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        commit(repo, {"src/app.py": "x\n"})
        env = {k: v for k, v in ci_env.items() if k != "CAVRA_TOKEN"}
        env.update({
            "ACTIONS_ID_TOKEN_REQUEST_URL": f"http://127.0.0.1:{server.server_address[1]}/token?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token",
            "CAVRA_AUDIENCE": AUDIENCE,
        })  # fmt: skip
        result, attestation, _ = ci_check(repo, env)
    finally:
        server.shutdown()
        server.server_close()
    assert requests == [{"auth": "Bearer request-token", "audience": AUDIENCE}]
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert attestation["result"] == "allowed"
