"""Finding 4: every query parameter of every endpoint in the OpenAPI schema, fed malformed values.

Nothing is a 500; a value that cannot be what the schema declares (a date that does not exist, an
unknown choice, a number that is not one, a cursor we never issued) is a 400 problem naming the
parameter."""

from __future__ import annotations

import pytest

from tests.security.openapi import operations

# Values no parameter can choke on, whatever its type.
ANY_MALFORMED = [
    "2026-13-45T99:00",
    "0316-07-11T08:53:51-21:55",
    "0001-01-01T00:00:00+05:00",
    "x" * 5000,
    "-1",
    "1e999",
    "[]",
    "💥",
    "%",
    "²",
]


def invalid_for(schema: dict) -> list[str]:
    """Values that the declared schema itself rules out (so the answer must be a 400)."""
    if schema.get("format") == "date-time":
        return ["2026-13-45T99:00", "yesterday", "2026-02-30T00:00:00Z", "9" * 30]
    if "enum" in schema:
        return ["not-a-choice", "ALLOW", "x" * 500]
    if schema.get("type") == "integer":
        values = ["abc", "1.5", "²", "0x10"]
        if "minimum" in schema or "maximum" in schema:
            values += [str(schema.get("minimum", 0) - 1)] + (
                [str(schema["maximum"] + 1)] if "maximum" in schema else []
            )
        return values
    return []


def test_the_decisions_until_finding(acme, member, client_as):
    client = client_as(member(acme, "auditor"), acme)
    response = client.get("/api/v1/decisions", {"until": "2026-13-45T99:00"})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert "until" in response.json()["errors"]
    assert client.get("/api/v1/decisions", {"since": "2026-13-45T99:00"}).status_code == 400
    assert client.get("/api/v1/decisions", {"until": "2026-11-01T00:00:00Z"}).status_code == 200


def test_an_offset_postgresql_cannot_store_is_read_in_utc(acme, member, client_as):
    """Found by schemathesis (`make fuzz`): an offset beyond PostgreSQL's ±15:59 was a 500 (DataError)."""
    client = client_as(member(acme, "auditor"), acme)
    for name in ("since", "until"):
        response = client.get("/api/v1/decisions", {name: "0316-07-11T08:53:51-21:55"})
        assert response.status_code == 200, response.content[:300]
        response = client.get(
            "/api/v1/decisions", {name: "0001-01-01T00:00:00+05:00"}
        )  # before year 1 in UTC
        assert response.status_code == 400, response.content[:300]
        assert name in response.json()["errors"]


GET_WITH_QUERY = [op for op in operations() if op.method == "get" and op.query]


def test_the_walk_covers_the_list_endpoints():
    paths = {op.path for op in GET_WITH_QUERY}
    assert {"/api/v1/decisions", "/api/v1/agents", "/api/v1/evidence/records", "/api/v1/sessions"} <= paths


@pytest.fixture
def readers(acme, member, client_as, agent_client):
    roles = ("tenant_admin", "security_reviewer", "operator", "auditor", "compliance_officer")
    return {"member": client_as(member(acme, *roles), acme), "agent": agent_client}


@pytest.mark.parametrize("op", GET_WITH_QUERY, ids=str)
def test_malformed_query_values_are_4xx_naming_the_parameter(rolled_out, agent, readers, op):
    path = op.concrete_path(agent_id=agent.public_id)
    for name, schema in op.query:
        declared_invalid = invalid_for(schema)
        for value in ANY_MALFORMED + declared_invalid:
            for who, client in readers.items():
                response = client.get(path, {name: value})
                body = b"(streamed)" if response.streaming else response.content[:300]
                context = (who, str(op), name, value[:40], response.status_code, body)
                assert response.status_code < 500, context
                if response.status_code >= 400:
                    assert response["Content-Type"] == "application/problem+json", context
                if value in declared_invalid and response.status_code not in (401, 403, 404):
                    assert response.status_code == 400, context
                    assert name in response.json().get("errors", {}), context
