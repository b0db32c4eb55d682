"""A licence never changes a decision: the same actions, asked under every licence state, get the same answers.

Structurally, import-linter's `licence-never-decides` contract keeps licensing out of the decision path; this
test checks the behaviour end to end through the API (decisions, an approval, its use) and the reviewer's queue.
"""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.roles import Role
from licensing import selectors
from tests.policies.conftest import ask

pytestmark = pytest.mark.django_db

ACTIONS = [
    {"action": "read_file", "target": "src/app.py", "repository": "acme/payments"},
    {"action": "read_file", "target": "./config/../.env"},
    {"action": "execute_command", "target": "sudo /bin/rm -fr /"},
    {"action": "execute_command", "target": "kubectl apply -f deploy.yaml"},
    {
        "action": "mcp_tool_call",
        "target": "github:create_issue",
        "mcp": {"server": "github", "tool": "create_issue"},
    },
]
STABLE = ("decision", "rule_id", "reason", "severity", "policy")


def _licences(issue) -> dict:
    return {
        "missing": None,
        "active": issue("enterprise", days=300),
        "trial": issue("trial", days=5),
        "expired": issue("business", days=-30),
        "suspended": issue("business", suspended=True, suspension_reason="unpaid"),
        "seats-exceeded": issue("business", seats=1, days=300),
        "wrong-key": issue("enterprise", days=300, key=Ed25519PrivateKey.generate()),
        "tampered": issue("business", days=300).replace('"seats": 50', '"seats": 9999'),
        "garbage": "\x00 not a licence",
    }


def _answers(client, reviewer) -> list:
    answers = []
    for body in ACTIONS:
        response = ask(client, **body)
        data = response.json()
        answers.append((response.status_code, {k: data.get(k) for k in STABLE}))
    pending = ask(client, action="execute_command", target="kubectl delete pod web-1").json()
    approval_id = pending["approval"]["id"]
    approve = reviewer.post(
        f"/api/v1/approvals/{approval_id}/approve",
        json.dumps({"reason": "ok"}),
        content_type="application/json",
    )
    answers.append((approve.status_code, approve.json()["status"]))
    used = ask(client, action="execute_command", target="kubectl delete pod web-1", approval_id=approval_id)
    answers.append((used.status_code, {k: used.json().get(k) for k in STABLE}))
    answers.append(reviewer.get("/approvals/").status_code)
    return answers


def test_every_licence_state_gets_identical_decisions(
    acme,
    rolled_out,
    agent_client,
    client_with_role,
    member,
    issue,
    licence_file,
    settings,
    tmp_path,
):
    reviewer = client_with_role(acme, Role.SECURITY_REVIEWER)
    member(acme, Role.AUDITOR)  # with seats=1, members exceed the seats
    results = {}
    states = {}
    for name, text in _licences(issue).items():
        if text is None:
            settings.CAVRA_LICENSE_FILE = str(tmp_path / "absent.json")
        else:
            licence_file(text)
        selectors._parsed.clear()
        states[name] = selectors.licence_status().state
        results[name] = _answers(agent_client, reviewer)
    assert states == {
        "missing": "missing",
        "active": "active",
        "trial": "trial",
        "expired": "expired",
        "suspended": "suspended",
        "seats-exceeded": "active",
        "wrong-key": "unknown",
        "tampered": "unknown",
        "garbage": "unknown",
    }
    baseline = results["missing"]
    assert [a[1]["decision"] for a in baseline[: len(ACTIONS)]] == [
        "allow",
        "block",
        "block",
        "require_approval",
        "block",  # an unregistered MCP server: the registry's answer
    ]
    assert baseline[-3][1] == "approved" and baseline[-2][1]["decision"] == "allow"
    for name, answers in results.items():
        assert answers == baseline, name
