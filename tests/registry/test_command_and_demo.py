"""`cavra_agent_token` (only the token on stdout; errors on stderr, exit 1) and the demo seed."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client

from registry.demo import seed
from registry.models import Agent, AgentCredential, McpServer, McpTool

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("cavra_agent_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_command_registers_the_agent_and_prints_only_a_token(acme):
    out, err = run("--tenant", "acme", "--agent", "ci-deploy", "--profile", "ci-runner")
    token = out.strip()
    assert out == token + "\n" and token.startswith("cvr_") and "Registered agent ci-deploy" in err
    agent = Agent.objects.get(tenant=acme, name="ci-deploy")
    assert agent.profile == "ci-runner"
    response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/agents")
    assert response.status_code == 200 and response.json()["results"][0]["id"] == agent.public_id
    again, err2 = run("--tenant", "acme", "--agent", "ci-deploy")
    assert again.strip() != token and err2 == ""
    assert AgentCredential.objects.filter(agent=agent, revoked_at__isnull=True).count() == 2
    assert Agent.objects.get(pk=agent.pk).profile == "ci-runner"


@pytest.mark.parametrize(
    "args, words",
    [
        (("--tenant", "nope", "--agent", "a"), "No tenant with slug 'nope'"),
        (("--tenant", "acme", "--agent", "a", "--profile", "skynet"), "Unknown profile 'skynet'"),
        (("--tenant", "acme", "--agent", "bad name"), "name:"),
    ],
)
def test_command_errors_are_clear(acme, args, words):
    with pytest.raises(CommandError, match=words) as exc:
        run(*args)
    assert exc.value.returncode == 1


def test_command_from_the_shell_exits_1_with_stderr_and_empty_stdout(acme):
    # A real process against the test database (committed tenant rows are not needed: the tenant is unknown).
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "cavra_portal.settings_test"}
    settings = connection.settings_dict
    env["DATABASE_URL"] = (
        f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "cavra_agent_token", "--tenant", "no-such", "--agent", "x"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert "No tenant with slug 'no-such'" in done.stderr


def test_demo_seed_is_idempotent_and_covers_every_tier(acme, globex):
    tenants = {"acme": acme, "globex": globex}
    seed(tenants=tenants, stdout=io.StringIO())
    counts = (Agent.objects.count(), McpServer.objects.count(), McpTool.objects.count())
    seed(tenants=tenants, stdout=io.StringIO())
    assert (Agent.objects.count(), McpServer.objects.count(), McpTool.objects.count()) == counts
    assert set(McpServer.objects.filter(tenant=acme).values_list("trust_tier", flat=True)) == set(
        McpServer.TrustTier.values
    )
    assert set(Agent.objects.filter(tenant=globex).values_list("status", flat=True)) == set(
        Agent.Status.values
    )
    assert McpTool.objects.filter(tenant=acme, status="changed").exists()
    assert McpTool.objects.filter(tenant=acme, status="pending").exists()
