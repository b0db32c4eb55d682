"""Finding 2: one JSON parser for the whole API, with a depth, member and string-length limit.

Every JSON endpoint of the OpenAPI schema gets deep, wide, long and malformed bodies: a 4xx each time,
never a 500; where the body is read, a 400 naming the limit. Nothing is recorded."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from evidence.models import Decision
from tests.policies.conftest import ask
from tests.security.openapi import operations

DEEP_ARRAY = "[" * 5000 + "]" * 5000


def deep_object_text(levels: int) -> str:
    # Built as text: json.dumps itself recurses per level.
    return '{"a": ' * levels + "{}" + "}" * levels


def deep_object(levels: int) -> dict:
    value: dict = {}
    for _ in range(levels):
        value = {"a": value}
    return value


def raw_post(client: Client, path: str, text: str, method: str = "post"):
    return getattr(client, method)(path, text, content_type="application/json")


@pytest.mark.parametrize(
    "text, limit",
    [
        (DEEP_ARRAY, "max_depth=64"),
        ('{"action": "read_file", "target": "x", "context": ' + "[" * 65 + "]" * 65 + "}", "max_depth=64"),
        (
            json.dumps({"action": "read_file", "target": "x", "context": {"k": list(range(10_001))}}),
            "max_members",
        ),
        (
            json.dumps({"action": "read_file", "target": "x", "context": {"k": "x" * 70_000}}),
            "max_string_length",
        ),
    ],
    ids=["array-5000-deep", "context-65-deep", "members", "string"],
)
def test_decision_body_over_a_limit_is_a_400_naming_it(rolled_out, agent_client, text, limit):
    response = raw_post(agent_client, "/api/v1/decisions", text)
    assert response.status_code in (400, 413), response.content
    if response.status_code == 400:
        assert limit in response.json()["detail"]
        assert response["Content-Type"] == "application/problem+json"
    assert not Decision.objects.exists()


@pytest.mark.parametrize("where", ["context", "mcp.arguments"])
def test_object_3000_deep_in_context_or_mcp_arguments(rolled_out, agent_client, where):
    # 3,000 levels of {"a": ...} is ~18 KB: under the 64 KiB decision limit, so the parser must refuse it.
    deep = deep_object_text(3000)
    if where == "context":
        text = '{"action": "read_file", "target": "x", "context": ' + deep + "}"
    else:
        text = (
            '{"action": "mcp_tool_call", "target": "github:create_issue", "mcp": '
            '{"server": "github", "tool": "create_issue", "arguments": ' + deep + "}}"
        )
    response = raw_post(agent_client, "/api/v1/decisions", text)
    assert response.status_code == 400
    assert "max_depth=64" in response.json()["detail"]
    assert not Decision.objects.exists()


def test_nesting_within_the_limit_still_decides(rolled_out, agent_client):
    response = ask(agent_client, action="read_file", target="README.md", context={"meta": deep_object(50)})
    assert response.status_code == 200 and response.json()["decision"] == "allow"


def test_brackets_inside_strings_do_not_count(rolled_out, agent_client):
    response = ask(agent_client, action="read_file", target="[" * 500 + '"\\"{' * 100)
    assert response.status_code == 200


BAD_BODIES = {
    "array-5000-deep": DEEP_ARRAY,
    "object-3000-deep": deep_object_text(3000),
    "members": json.dumps({"k": list(range(10_001))}),
    "string": json.dumps({"k": "x" * 70_000}),
    "malformed": '{"action": "read_file", ',
    "nan": '{"a": NaN}',
    "not-utf8": b'{"a": "\xff\xfe"}',
    "top-level-string": '"just a string"',
    "oversized": json.dumps({"k": ["x" * 60_000] * 20}),
}


@pytest.fixture
def api_clients(acme, member, client_as, agent_client):
    admin = client_as(member(acme, "tenant_admin", "security_reviewer", "operator"), acme)
    return {"admin": admin, "agent": agent_client}


@pytest.mark.parametrize("name", sorted(BAD_BODIES))
def test_every_json_endpoint_refuses_bad_bodies_with_a_4xx(rolled_out, agent, api_clients, name):
    text = BAD_BODIES[name]
    for op in operations(with_body=True):
        path = op.concrete_path(agent_id=agent.public_id)
        for who, client in api_clients.items():
            response = raw_post(client, path, text, op.method)
            assert 400 <= response.status_code < 500, (
                who,
                op,
                name,
                response.status_code,
                response.content[:300],
            )
            assert response["Content-Type"] == "application/problem+json", (who, op, name)
    assert not Decision.objects.exists()
