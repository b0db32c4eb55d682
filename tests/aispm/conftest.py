"""AISPM fixtures: decisions made through the real decision path, and a helper to store past decisions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from evidence.models import Decision
from tests.policies.conftest import agent, agent_client, token  # noqa: F401 - re-exported fixtures

COMPLIANCE_PACK = """\
apiVersion: cavra.policy/v2
metadata: {id: aispm-test, title: AISPM test pack, version: 1.0.0, description: controls}
defaults: {any: allow}
rules:
  - id: baseline.secrets.dotenv
    action: [read_file]
    match: {paths: [".env"]}
    effect: block
    severity: high
    reason: Secrets stay secret.
    compliance: {soc2: [CC6.1, CC6.7], iso27001: [A.8.12]}
  - id: terraform.apply
    action: execute_command
    match:
      commands:
        - program: terraform
          subcommand: [apply]
    effect: require_approval
    severity: critical
    reason: Infrastructure changes need a reviewer.
    compliance: {soc2: [CC8.1], eu_ai_act: [Art.14]}
tests:
  - {action: read_file, target: .env, expect: block, rule: baseline.secrets.dotenv}
"""


@pytest.fixture(autouse=True)
def _tasks_inline(celery_inline):
    """Every AISPM test runs its queued tasks inline (tests/conftest.py)."""


@pytest.fixture
def compliance_version(acme):
    from policies.services import policy_pack_upload

    return policy_pack_upload(tenant=acme, text=COMPLIANCE_PACK, actor=None)


@pytest.fixture
def enforced(acme, compliance_version):
    from policies.services import rollout_set

    return rollout_set(tenant=acme, version=compliance_version, mode="enforce", actor=None)


@pytest.fixture
def past_decision(acme):
    """past_decision(days_ago, decision, **fields) -> a Decision row dated in the past (no evidence)."""

    def make(days_ago: int, decision: str = "allow", **fields) -> Decision:
        defaults = {
            "action": "read_file",
            "target": "src/a.py",
            "surface": "general_policy",
            "severity": "low",
        }
        defaults.update(fields)
        return Decision.objects.create(
            tenant=acme, decision=decision, created_at=timezone.now() - timedelta(days=days_ago), **defaults
        )

    return make
