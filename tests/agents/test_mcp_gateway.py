"""`cavra mcp-gateway` between the SDK's MCP client and a real upstream MCP server (stdio), asking a
running portal: allowed calls are forwarded with their result, blocked ones refused, an upstream tool
whose description changes between two tools/list is held, and an unreachable portal allows nothing."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pytest
from django.db import close_old_connections

from policies.services import policy_pack_upload, rollout_set
from registry.models import McpTool
from registry.services import mcp_server_approve, mcp_server_create, mcp_tool_approve
from tests.agents.conftest import CAVRA

pytestmark = pytest.mark.django_db(transaction=True)

UPSTREAM = str(Path(__file__).with_name("mcp_upstream.py"))
GATEWAY_PACK = """\
apiVersion: cavra.policy/v2
metadata: {id: gateway-test, title: Gateway test pack, version: 1.0.0, description: MCP gateway tests.}
defaults: {any: allow}
rules:
  - id: gw.shell
    action: mcp_tool_call
    match: {mcp: {tool: [run_command]}}
    effect: block
    severity: critical
    reason: Shell tools bypass the command policy.
  - id: gw.dotenv
    action: mcp_tool_call
    match: {mcp: [{arguments: {path: ["*.env", ".env"]}}]}
    effect: block
    severity: high
    reason: The call names a credentials file.
"""


@pytest.fixture
def files_server(portal):
    version = policy_pack_upload(tenant=portal.tenant, text=GATEWAY_PACK, actor=None)
    rollout_set(tenant=portal.tenant, version=version, mode="enforce", actor=None)
    server = mcp_server_create(
        tenant=portal.tenant, actor=None, server_id="files", name="Files", command="python mcp_upstream.py"
    )
    return mcp_server_approve(server=server, actor=None, trust_tier="trusted")


def _approve_all(tenant):
    try:
        for tool in McpTool.objects.filter(tenant=tenant):
            mcp_tool_approve(tool=tool, actor=None)
    finally:
        close_old_connections()


def _tool_status(tenant, name):
    try:
        return McpTool.objects.get(tenant=tenant, name=name).status
    finally:
        close_old_connections()


async def _session(env, scenario):
    from mcp import ClientSession, StdioServerParameters, stdio_client

    params = StdioServerParameters(
        command=CAVRA, args=["mcp-gateway", "--server", "files", "--", sys.executable, UPSTREAM], env=env
    )
    with anyio.fail_after(60):
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            return await scenario(session)


def _text(result) -> str:
    return " ".join(block.text for block in result.content if getattr(block, "type", "") == "text")


def test_allowed_forwarded_blocked_refused_rug_pull_held(portal, agent_env, files_server):
    tenant = portal.tenant

    async def scenario(session):
        seen = {}
        listed = await session.list_tools()
        seen["first"] = sorted(t.name for t in listed.tools)
        await anyio.to_thread.run_sync(_approve_all, tenant)
        seen["read"] = await session.call_tool("read_file", {"path": "README.md"})
        seen["shell"] = await session.call_tool("run_command", {"cmd": "id"})
        seen["dotenv"] = await session.call_tool("read_file", {"path": ".env"})
        seen["evil"] = await session.call_tool("turn_evil", {})
        listed = await session.list_tools()
        seen["second"] = sorted(t.name for t in listed.tools)
        seen["held"] = await session.call_tool("read_file", {"path": "README.md"})
        return seen

    seen = anyio.run(_session, agent_env, scenario)
    assert seen["first"] == ["read_file", "run_command", "turn_evil"]
    assert not seen["read"].is_error and _text(seen["read"]) == "contents of README.md"
    assert seen["shell"].is_error and "gw.shell" in _text(seen["shell"])
    assert seen["dotenv"].is_error and "gw.dotenv" in _text(seen["dotenv"])
    assert not seen["evil"].is_error
    assert seen["second"] == ["run_command", "turn_evil"]  # read_file changed under us: held, not listed
    assert seen["held"].is_error and "re-approve" in _text(seen["held"])
    assert _tool_status(tenant, "read_file") == "changed"
    from evidence.models import Decision

    decisions = list(Decision.objects.filter(tenant=tenant).order_by("id").values_list("target", "decision"))
    assert decisions == [
        ("files:read_file", "allow"),
        ("files:run_command", "block"),
        ("files:read_file", "block"),
        ("files:turn_evil", "allow"),
    ]


def test_an_unapproved_tool_needs_approval_and_is_not_forwarded(portal, agent_env, files_server):
    async def scenario(session):
        await session.list_tools()  # tools are new: pending in the registry
        return await session.call_tool("turn_evil", {})

    result = anyio.run(_session, agent_env, scenario)
    assert result.is_error
    text = _text(result)
    assert "requires approval" in text and f"{portal.url}/approvals/apr_" in text
    assert _tool_status(portal.tenant, "read_file") == "pending"  # turn_evil never ran upstream


def test_portal_unreachable_lists_and_forwards_nothing(portal, agent_env, files_server):
    from mcp.shared.exceptions import MCPError

    env = {**agent_env, "CAVRA_URL": "http://127.0.0.1:9", "CAVRA_TIMEOUT": "1"}

    async def scenario(session):
        with pytest.raises(MCPError, match="cannot check the tools"):
            await session.list_tools()
        return await session.call_tool("read_file", {"path": "README.md"})

    result = anyio.run(_session, env, scenario)
    assert result.is_error and "failing closed" in _text(result)


def test_streamable_http_transport(portal, agent_env, files_server, tmp_path):
    import socket
    import subprocess
    import time

    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = (tmp_path / "gateway.log").open("wb")
    proc = subprocess.Popen(
        [CAVRA, "mcp-gateway", "--server", "files", "--transport", "streamable-http", "--port", str(port), "--",
         sys.executable, UPSTREAM],
        env=agent_env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)

        async def scenario():
            with anyio.fail_after(60):
                async with (
                    streamable_http_client(f"http://127.0.0.1:{port}/mcp") as (read, write),
                    ClientSession(read, write) as session,
                ):
                    await session.initialize()
                    names = sorted(t.name for t in (await session.list_tools()).tools)
                    await anyio.to_thread.run_sync(_approve_all, portal.tenant)
                    allowed = await session.call_tool("read_file", {"path": "src/app.py"})
                    blocked = await session.call_tool("run_command", {"cmd": "id"})
                    return names, allowed, blocked

        names, allowed, blocked = anyio.run(scenario)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
    assert names == ["read_file", "run_command", "turn_evil"]
    assert not allowed.is_error and _text(allowed) == "contents of src/app.py"
    assert blocked.is_error and "gw.shell" in _text(blocked)


def test_several_upstreams_are_namespaced_routed_and_pinned_per_server(
    portal, agent_env, files_server, tmp_path
):
    import json

    tenant = portal.tenant
    docs = mcp_server_create(
        tenant=tenant, actor=None, server_id="docs", name="Docs", command="python mcp_upstream.py"
    )
    mcp_server_approve(server=docs, actor=None, trust_tier="trusted")
    config = tmp_path / "upstreams.json"
    config.write_text(json.dumps({"upstreams": [
        {"server": "files", "command": [sys.executable, UPSTREAM]},
        {"server": "docs", "command": [sys.executable, UPSTREAM]},
    ]}))  # fmt: skip

    async def scenario(session):
        seen = {"first": sorted(t.name for t in (await session.list_tools()).tools)}
        await anyio.to_thread.run_sync(_approve_all, tenant)
        seen["read"] = await session.call_tool("docs__read_file", {"path": "README.md"})
        seen["shell"] = await session.call_tool("files__run_command", {"cmd": "id"})
        seen["nowhere"] = await session.call_tool("nope__read_file", {"path": "README.md"})
        seen["bare"] = await session.call_tool("read_file", {"path": "README.md"})
        seen["evil"] = await session.call_tool("files__turn_evil", {})  # rug pull on files only
        seen["second"] = sorted(t.name for t in (await session.list_tools()).tools)
        return seen

    from mcp import ClientSession, StdioServerParameters, stdio_client

    async def run():
        params = StdioServerParameters(
            command=CAVRA, args=["mcp-gateway", "--config", str(config)], env=agent_env
        )
        with anyio.fail_after(90):
            async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                return await scenario(session)

    seen = anyio.run(run)
    assert seen["first"] == [
        f"{s}__{t}" for s in ("docs", "files") for t in ("read_file", "run_command", "turn_evil")
    ]
    assert not seen["read"].is_error and _text(seen["read"]) == "contents of README.md"
    assert seen["shell"].is_error and "gw.shell" in _text(seen["shell"])
    assert seen["nowhere"].is_error and "no upstream server serves" in _text(seen["nowhere"])
    assert seen["bare"].is_error
    assert "files__read_file" not in seen["second"] and "docs__read_file" in seen["second"]
    statuses = dict(
        McpTool.objects.filter(tenant=tenant, name="read_file").values_list("server__server_id", "status")
    )
    assert statuses["files"] == "changed" and statuses["docs"] != "changed"  # pinned per server
    from evidence.models import Decision

    targets = list(Decision.objects.filter(tenant=tenant).order_by("id").values_list("target", "decision"))
    assert targets == [
        ("docs:read_file", "allow"),
        ("files:run_command", "block"),
        ("files:turn_evil", "allow"),
    ]


def test_a_bad_upstream_config_does_not_start(portal, agent_env, tmp_path):
    from tests.agents.conftest import run_cavra

    config = tmp_path / "bad.json"
    config.write_text('{"upstreams": [{"server": "a__b", "command": ["x"]}]}')
    result = run_cavra(["mcp-gateway", "--config", str(config)], agent_env)
    assert result.returncode == 2 and b"upstreams[0].server" in result.stderr
