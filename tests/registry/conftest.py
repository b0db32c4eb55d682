"""Registry fixtures: agents, tokens, MCP servers, and clients that speak as an agent."""

from __future__ import annotations

import itertools

import pytest
from django.test import Client

from registry.services import agent_create, agent_credential_issue, mcp_server_create, mcp_tool_register

_seq = itertools.count()


@pytest.fixture
def make_agent(db):
    def make(tenant, *, name=None, profile="claude-code", **fields):
        return agent_create(
            tenant=tenant, actor=None, name=name or f"agent-{next(_seq)}", profile=profile, **fields
        )

    return make


@pytest.fixture
def token_for(db):
    """token_for(agent, **kw) -> plaintext token of a fresh credential."""

    def make(agent, **kwargs):
        return agent_credential_issue(agent=agent, actor=None, **kwargs)[1]

    return make


@pytest.fixture
def agent_client():
    """agent_client(token) -> a Client whose every request carries `Authorization: Bearer token`."""

    def make(token: str) -> Client:
        return Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    return make


@pytest.fixture
def make_server(db):
    def make(tenant, server_id="github", *, tier="approved", approval="approved", tools=(), **fields):
        fields.setdefault("command", f"npx {server_id}")
        server = mcp_server_create(
            tenant=tenant,
            actor=None,
            server_id=server_id,
            name=server_id.title(),
            trust_tier=tier,
            approval_state=approval,
            **fields,
        )
        for tool in tools:
            mcp_tool_register(
                server=server, actor=None, name=tool, description=f"{tool} tool", input_schema={}
            )
        return server

    return make
