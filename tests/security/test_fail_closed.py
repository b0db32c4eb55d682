"""Finding 1: the portal fails closed from the first line of an agent's request.

The app runs in a real gunicorn process with its database, or its Redis, on a dead port; the other
tests break each step of the decision in turn. An agent always gets `block` (200 with a block
decision, or 503 problem+json with "decision": "block" and Retry-After), never a 500 and never allow.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

import pytest
from django.db import DatabaseError, OperationalError, connection

from tests.policies.conftest import ask
from tests.security.conftest import dead_port


def http(method: str, url: str, body: dict | None = None, headers: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null")


def assert_blocked_503(status, headers, body):
    assert status == 503, body
    assert headers["Content-Type"] == "application/problem+json"
    assert body["decision"] == "block"
    assert body["reason"] and "block" in body["detail"]
    assert int(headers["Retry-After"]) > 0


AGENT_BEARER = {"Authorization": "Bearer cvr_" + "x" * 43}
DECISION = {"action": "read_file", "target": "README.md"}


def test_database_down_every_agent_endpoint_answers_503_block(portal_server):
    base = portal_server(DATABASE_URL=f"postgres://postgres@127.0.0.1:{dead_port()}/cavra")
    for method, path, body in [
        ("POST", "/api/v1/decisions", DECISION),
        ("POST", "/api/v1/sessions", {}),
        ("GET", "/api/v1/decisions", None),
        ("GET", "/api/v1/approvals/apr_x", None),
        ("POST", "/api/v1/mcp-tools/observe", {"server": "s", "tools": []}),
    ]:
        status, headers, answer = http(method, base + path, body, AGENT_BEARER)
        assert_blocked_503(status, headers, answer)
        assert "database" in answer["reason"]
    # A CI workload identity token is an agent too.
    jwt = {"Authorization": f"Bearer {_jwt()}"}
    assert_blocked_503(*http("POST", base + "/api/v1/decisions", DECISION, jwt))
    # Health says so, and a person's API request gets a 503 without a decision in it.
    status, headers, answer = http("GET", base + "/api/v1/health")
    assert status == 503
    status, headers, answer = http(
        "GET", base + "/api/v1/me", None, {"Authorization": "Bearer cvp_" + "y" * 40}
    )
    assert status == 503 and "decision" not in answer and headers["Retry-After"]


@pytest.mark.django_db(transaction=True)
def test_redis_down_decisions_still_never_500(acme, rolled_out, token, portal_server):
    name = connection.settings_dict["NAME"]
    base = portal_server(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{connection.settings_dict['PORT'] or 5432}/{name}",
        REDIS_URL=f"redis://127.0.0.1:{dead_port()}/0",
    )
    bearer = {"Authorization": f"Bearer {token}", "Idempotency-Key": "redis-down-1"}
    # The cache only holds idempotency replays: without it the portal still decides, correctly.
    status, _, answer = http(
        "POST", base + "/api/v1/decisions", {"action": "read_file", "target": ".env"}, bearer
    )
    assert (status, answer["decision"], answer["rule_id"]) == (200, "block", "test.secrets.read")
    status, _, answer = http("POST", base + "/api/v1/decisions", DECISION, bearer | {"Idempotency-Key": "k2"})
    assert status == 200 and answer["decision"] == "allow"
    # Health reports the cache outage.
    status, _, answer = http("GET", base + "/api/v1/health")
    assert (answer["status"], answer["cache"], answer["database"]) == ("degraded", "unreachable", "ok")


def _jwt() -> str:
    def part(document: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()

    claims = {"iss": "https://ci.example", "aud": "cavra", "sub": "repo:acme/web"}
    return f"{part({'alg': 'RS256', 'kid': 'k1'})}.{part(claims)}.c2lnbmF0dXJl"


def _raise(exc):
    def broken(*args, **kwargs):
        raise exc

    return broken


# Every step of policies/decisions/pipeline.py, where decide() looks it up, and the lower-level calls
# inside them that touch the database or the engine.
STEPS = [
    ("registry.authentication", "credential_by_hash"),
    *[
        ("policies.decisions.pipeline", name)
        for name in (
            "resolve",
            "evaluate_policy",
            "registry_review",
            "apply_mode",
            "action_binding",
            "approval_use",
            "session_for_decision",
            "approval_opener",
            "decision_record",
            "idempotency_claim",
            "decision_response",
        )
    ],
    ("policies.decisions.resolve", "rollout_resolve"),
    ("policies.decisions.evaluate", "compiled_policy"),
    ("policies.decisions.evaluate", "evaluate"),
    ("policies.decisions.registry_checks", "registry_check"),
    ("policies.decisions.approval", "approval_check_for_action"),
    ("policies.decisions.record", "evidence_append"),
    ("policies.api.serializers.DecisionRequestSerializer", "validate"),
]


@pytest.mark.parametrize("module, step", STEPS)
@pytest.mark.parametrize("exc", [DatabaseError("connection refused"), RuntimeError("bug")], ids=["db", "bug"])
def test_a_failure_in_any_step_blocks(acme, rolled_out, agent_client, monkeypatch, module, step, exc):
    import importlib

    if "Serializer" in module:
        mod, cls = module.rsplit(".", 1)
        target = getattr(importlib.import_module(mod), cls)
    else:
        target = importlib.import_module(module)
    assert hasattr(target, step), f"{module}.{step} is gone: update STEPS to the pipeline's steps"
    monkeypatch.setattr(target, step, _raise(exc))
    body = {"action": "read_file", "target": "README.md", "repository": "acme/web"}
    response = ask(agent_client, **body, approval_id="apr_missing")
    answer = response.json()
    assert answer["decision"] == "block", answer
    if response.status_code != 200:
        assert_blocked_503(response.status_code, response.headers, answer)


def test_a_failure_outside_the_view_blocks_an_agent_and_stays_500_for_a_person(
    acme, rolled_out, token, member, monkeypatch
):
    from django.test import Client
    from django.urls import resolvers

    # URL resolution runs before any API view: a failure there never reaches DRF's exception handler.
    monkeypatch.setattr(resolvers.URLResolver, "resolve", _raise(RuntimeError("bug")))
    agent = Client(HTTP_AUTHORIZATION=f"Bearer {token}", raise_request_exception=False)
    response = ask(agent, action="read_file", target="README.md")
    assert_blocked_503(response.status_code, response.headers, response.json())
    person = Client(raise_request_exception=False)
    person.force_login(member(acme, "auditor"), backend="django.contrib.auth.backends.ModelBackend")
    assert person.get("/api/v1/decisions").status_code == 500
    # An outage (not a bug) is a 503 for a person too.
    monkeypatch.setattr(resolvers.URLResolver, "resolve", _raise(OperationalError("connection refused")))
    response = person.get("/api/v1/decisions")
    assert response.status_code == 503 and "decision" not in response.json()
