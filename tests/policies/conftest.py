"""A tenant with a rolled-out test pack, an agent and its token: the decision path's fixtures."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.factories import AgentCredentialFactory, AgentFactory, PolicyVersionFactory, RolloutFactory
from tests.support.clients import bearer_client

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
    return PolicyVersionFactory(tenant=acme, text=TEST_PACK)


@pytest.fixture
def rolled_out(policy_version):
    return RolloutFactory(version=policy_version, mode="enforce")


@pytest.fixture
def agent(acme, member):
    return AgentFactory(tenant=acme, name="ci-bot", owner=member(acme, "operator", email="owner@acme.test"))


@pytest.fixture
def token(agent):
    return AgentCredentialFactory(agent=agent).plaintext


@pytest.fixture
def agent_client(token):
    return bearer_client(token)


def ask(client: Client, **body):
    headers = body.pop("headers", {})
    return client.post("/api/v1/decisions", json.dumps(body), content_type="application/json", **headers)
