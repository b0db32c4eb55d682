"""Property-based fuzzing of every operation in docs/openapi.yaml with schemathesis.

Each operation gets cases generated from its declared parameters and body, both ones that fit the
schema (positive) and ones that do not (negative), sent through the real WSGI application in-process
(same database transaction as the test), each case as a member holding every role or as an agent,
whichever the operation's declared security allows. No answer may be a 5xx: with the database and Redis up, even the documented 503
fail-closed answers must not occur.

`make test` runs a bounded, derandomized pass (CAVRA_FUZZ_EXAMPLES cases per operation and mode,
default 3: a few hundred requests); `make fuzz` runs the same with a much larger bound."""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.factories import PersonalAccessTokenFactory
from tests.security.openapi import SCHEMA

EXAMPLES = int(os.environ.get("CAVRA_FUZZ_EXAMPLES", "3"))
ALL_ROLES = ("tenant_admin", "security_reviewer", "operator", "auditor", "compliance_officer")

schema = schemathesis.openapi.from_path(SCHEMA)
OPERATIONS = [result.ok() for result in schema.get_all_operations()]


def callers(operation) -> list[str]:
    """Who may call the operation, as the schema declares it: an agent, a member, or both."""
    schemes = {name for requirement in operation.definition.raw.get("security", []) for name in requirement}
    found = (["agent"] if "agentToken" in schemes else []) + (["member"] if schemes - {"agentToken"} else [])
    return found or ["member"]


def test_every_operation_is_fuzzed():
    labels = {op.label for op in OPERATIONS}
    assert {"POST /api/v1/decisions", "GET /api/v1/decisions", "POST /api/v1/agents"} <= labels
    assert len(OPERATIONS) >= 60


@pytest.fixture
def application():
    """The WSGI app, kept from closing the test's database connection at the end of each request (as
    Django's own test client does), so requests run inside the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_the_cases_reach_the_views(acme, member, application):
    """The fuzzing is only worth something if the requests get past the host check and authentication."""
    bearer = PersonalAccessTokenFactory(tenant=acme, user=member(acme, "auditor")).plaintext
    case = schema.find_operation_by_label("GET /api/v1/me").Case()
    response = case.call(
        base_url="http://testserver", app=application, headers={"Authorization": f"Bearer {bearer}"}
    )
    assert response.status_code == 200, response.content[:300]
    assert response.json()["tenant"]["slug"] == "acme"


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_no_generated_request_is_a_server_error(
    rolled_out, agent, token, acme, member, application, operation
):
    bearer = {
        "agent": token,
        "member": PersonalAccessTokenFactory(tenant=acme, user=member(acme, *ALL_ROLES)).plaintext,
    }
    # A real agent id on the agent-scoped routes, so those cases reach past the 404 into the view.
    known = {"agent_id": agent.public_id} if "{agent_id}" in operation.path else None
    cases = st.one_of(
        *(operation.as_strategy(generation_mode=mode, path_parameters=known) for mode in GenerationMode)
    )

    @settings(
        max_examples=EXAMPLES * len(GenerationMode),
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases, caller=st.sampled_from(callers(operation)))
    def run(case, caller):
        headers = {"Authorization": f"Bearer {bearer[caller]}"}
        response = case.call(base_url="http://testserver", app=application, headers=headers)
        case.validate_response(response, checks=[not_a_server_error])

    run()
