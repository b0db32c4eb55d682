"""A tenant with a rolled-out test pack, an agent and its token: the decision path's fixtures."""

from __future__ import annotations

import pytest
from django.test import Client

from policies.services import policy_pack_upload, rollout_set
from registry.services import agent_create, agent_credential_issue

TEST_PACK = """\
apiVersion: cavra.policy/v2
metadata:
  id: decide-test
  title: Decision path test pack
  version: 1.0.0
  description: Small pack for the decision API tests.
defaults:
  any: allow
rules:
  - id: test.secrets.read
    action: [read_file, write_file]
    match:
      paths: [".env", "*.pem"]
    effect: block
    severity: high
    reason: Secrets are never read by agents.
  - id: test.rm-root
    action: execute_command
    match:
      commands:
        - program: rm
          flags: [recursive, force]
          args: ["/", "/*", "~"]
    effect: block
    severity: critical
    reason: Recursive forced delete of a system path.
  - id: test.deploy
    action: execute_command
    match:
      commands:
        - program: kubectl
          subcommand: [apply, delete]
    effect: require_approval
    severity: high
    reason: Changes to a cluster need a reviewer.
tests:
  - action: read_file
    target: .env
    expect: block
    rule: test.secrets.read
  - action: execute_command
    target: kubectl apply -f deploy.yaml
    expect: require_approval
    rule: test.deploy
  - action: read_file
    target: README.md
    expect: allow
    rule: null
"""


@pytest.fixture
def policy_version(acme):
    return policy_pack_upload(tenant=acme, text=TEST_PACK, actor=None)


@pytest.fixture
def rolled_out(acme, policy_version):
    return rollout_set(tenant=acme, version=policy_version, mode="enforce", actor=None)


@pytest.fixture
def agent(acme, member):
    owner = member(acme, "operator", email="owner@acme.test")
    return agent_create(tenant=acme, actor=None, name="ci-bot", profile="claude-code", owner=owner)


@pytest.fixture
def token(agent):
    _, plaintext = agent_credential_issue(agent=agent, actor=None)
    return plaintext


@pytest.fixture
def agent_client(token):
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def ask(client: Client, **body):
    import json

    headers = body.pop("headers", {})
    return client.post("/api/v1/decisions", json.dumps(body), content_type="application/json", **headers)
