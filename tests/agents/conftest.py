"""A running portal (pytest-django's live server on 127.0.0.1) with a rolled-out pack, an agent and its
token, and a helper that runs the real `cavra` command against it as a separate process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from approvals.services import reviewer_repository_grant_add
from policies.services import policy_pack_upload, rollout_set
from registry.services import agent_create, agent_credential_issue
from tests.policies.conftest import TEST_PACK, agent, policy_version, rolled_out, token  # noqa: F401 - fixtures

CAVRA = str(Path(sys.executable).parent / "cavra")
REPOSITORY = "acme/web"


@dataclass
class Portal:
    url: str
    tenant: object
    agent: object
    credential: object
    token: str
    reviewer: object
    version: object


@pytest.fixture
def portal(live_server, acme, member) -> Portal:
    version = policy_pack_upload(tenant=acme, text=TEST_PACK, actor=None)
    rollout_set(tenant=acme, version=version, mode="enforce", actor=None)
    owner = member(acme, "operator", email="owner@acme.test")
    bot = agent_create(tenant=acme, actor=None, name="claude-bot", profile="claude-code", owner=owner)
    credential, plaintext = agent_credential_issue(agent=bot, actor=None)
    reviewer = member(acme, "security_reviewer", email="rev@acme.test")
    reviewer_repository_grant_add(tenant=acme, user=reviewer, repository_glob="acme/*")
    return Portal(live_server.url, acme, bot, credential, plaintext, reviewer, version)


@pytest.fixture
def agent_env(tmp_path, portal) -> dict:
    """The environment a developer's shell would give the hook: portal URL and token, no credentials file."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "CAVRA_URL": portal.url,
        "CAVRA_TOKEN": portal.token,
        "CAVRA_REPOSITORY": REPOSITORY,
        "CAVRA_TIMEOUT": "5",
        "CAVRA_APPROVAL_WAIT": "0",
    }
    return env


def run_cavra(args: list[str], env: dict, *, stdin: str | bytes = "", cwd=None, timeout=60):
    data = stdin.encode() if isinstance(stdin, str) else stdin
    return subprocess.run([CAVRA, *args], input=data, env=env, capture_output=True, timeout=timeout, cwd=cwd)


def start_cavra(args: list[str], env: dict, *, stdin: str, tmp_path: Path, cwd=None) -> subprocess.Popen:
    """The command started in the background (stdin from a file), for tests that act while it waits."""
    source = tmp_path / f"stdin-{os.urandom(4).hex()}.json"
    source.write_text(stdin)
    with source.open("rb") as handle:
        return subprocess.Popen(
            [CAVRA, *args], stdin=handle, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd
        )


def hook_answer(result) -> dict:
    """The hookSpecificOutput of a finished hook run, after checking the documented envelope."""
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document) == {"hookSpecificOutput"}
    out = document["hookSpecificOutput"]
    assert out["hookEventName"] == "PreToolUse"
    assert out["permissionDecision"] in {"allow", "deny", "ask"}
    assert isinstance(out["permissionDecisionReason"], str) and out["permissionDecisionReason"]
    return out
