"""Fixtures for approvals: agents with owners, and a helper that opens a request as decide() would."""

from __future__ import annotations

import hashlib
import itertools

import pytest

from approvals.services import approval_request_open
from cavra_portal.celery import app as celery_app
from registry.services import agent_create

_seq = itertools.count()


@pytest.fixture(autouse=True)
def celery_inline():
    """Run queued tasks inline (the demo mode) so outbox deliveries land in Django's locmem mailbox."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


@pytest.fixture
def make_agent(db):
    def make(tenant, owner=None, name=None):
        return agent_create(
            tenant=tenant, actor=None, name=name or f"agent-{next(_seq)}", profile="claude-code", owner=owner
        )

    return make


def digest_of(**parts) -> str:
    text = "|".join(f"{k}={parts[k]}" for k in sorted(parts))
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def open_request(db):
    """open_request(tenant, agent, **overrides) -> a pending ApprovalRequest (what decide() would open)."""

    def make(tenant, agent, **overrides):
        fields = {
            "action": "write_file",
            "target": "src/app.py",
            "repository": "acme/web",
            "environment": "dev",
            "rule_id": "filesystem.write.require_approval",
            "severity": "high",
            "reason": "Writes to source need a reviewer.",
            "policy_pack": "acme-baseline",
            "policy_digest": "sha256:policy-v1",
        }
        fields.update(overrides)
        fields.setdefault(
            "action_digest",
            digest_of(
                agent=agent.public_id,
                **{k: fields[k] for k in ("action", "target", "repository", "environment", "policy_digest")},
            ),
        )
        return approval_request_open(tenant=tenant, agent=agent, **fields)

    return make
