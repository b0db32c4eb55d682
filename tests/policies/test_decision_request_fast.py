"""The msgspec fast path of the decision request never disagrees with DecisionRequestSerializer:
for every body it either yields exactly the serializer's validated data, or declines (None) and the
serializer answers — so the 400s naming the field are the serializer's, unchanged."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.api.decision_request import decision_request_fast
from policies.api.serializers import DecisionRequestSerializer


def _plain(value):
    return json.loads(json.dumps(value))


def _serializer(body: dict):
    serializer = DecisionRequestSerializer(data=body)
    return _plain(serializer.validated_data) if serializer.is_valid() else None


ACCEPTED = [
    {"action": "read_file", "target": "README.md"},
    {"action": "execute_command", "target": "rm -rf /", "session_id": "ses_x", "repository": "acme/api"},
    {"action": "git_operation", "target": "origin", "operation": "push", "branch": "main", "force": True},
    {"action": "mcp_tool_call", "target": "github:create_issue"},
    {
        "action": "mcp_tool_call",
        "target": "x",
        "mcp": {"server": "github", "tool": "t", "arguments": {"a": [1]}},
    },
    {
        "action": "network_request",
        "target": "https://x",
        "method": "GET",
        "context": {"cwd": "/w", "n": None},
    },
    {"action": "write_file", "target": " a.py ", "environment": None, "approval_id": ""},
    {"action": "read_file", "target": "a", "attestation": {"actor": "a@b.test", "reason": "why"}},
]

DECLINED = [
    {"action": "read_file", "target": "a", "repository": " padded "},  # the serializer trims
    {"action": "read_file", "target": "a", "force": "true"},  # the serializer converts
    {"action": "read_file", "target": "a", "repository": 5},
    {"action": "read_file", "target": "a", "unknown": [[[[1]]]]},  # counts against the parser's limits
    {"action": "mcp_tool_call", "target": "x", "mcp": {"server": "s", "arguments": None}},
]

INVALID = [
    {"action": "delete_universe", "target": "a"},
    {"action": "read_file", "target": "   "},
    {"action": "read_file", "target": "a\x00b"},
    {"action": "read_file"},
    {"action": "read_file", "target": "a", "session_id": ""},
    {"action": "mcp_tool_call", "target": "nocolon"},
    {"action": "read_file", "target": "a", "context": {"k": "nul\x00"}},
    {"action": "read_file", "target": "a", "attestation": {"actor": "a@b.test"}},
    {"action": "read_file", "target": "x" * 8193},
]


@pytest.mark.parametrize("body", ACCEPTED)
def test_accepted_bodies_equal_the_serializer(body):
    fast = decision_request_fast(json.dumps(body).encode())
    assert fast is not None
    assert _plain(fast) == _serializer(body)


@pytest.mark.parametrize("body", DECLINED + INVALID)
def test_anything_else_is_left_to_the_serializer(body):
    assert decision_request_fast(json.dumps(body).encode()) is None


def test_deep_context_is_left_to_the_parser_limits(settings):
    deep: dict = {}
    node = deep
    for _ in range(70):
        node["k"] = {}
        node = node["k"]
    body = {"action": "read_file", "target": "a", "context": deep}
    assert decision_request_fast(json.dumps(body).encode()) is None


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)
fields = st.sampled_from(
    ["action", "target", "session_id", "repository", "environment", "operation", "branch", "force",
     "remote", "method", "mcp", "approval_id", "context", "attestation"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(fields, values, max_size=6),
    st.sampled_from(["read_file", "execute_command", "mcp_tool_call", "git_operation"]),
    st.text(min_size=0, max_size=8),
)
def test_never_disagrees_with_the_serializer(extra, action, target):
    body = {"action": action, "target": target, **extra}
    fast = decision_request_fast(json.dumps(body).encode())
    if fast is not None:
        assert _plain(fast) == _serializer(body)
