"""`cavra mcp-gateway`: an MCP server to the client and an MCP client to one or more upstream servers,
built on the official `mcp` SDK. With several upstreams (`--config`), each tool is listed as
`<server>__<tool>` and a call is routed to its server by that prefix; each server keeps its own pins. On tools/list it reports each tool's description and input schema to the
registry (which pins them: a change is a rug pull and the tool is held until re-approved) and lists
only tools that are not held; on tools/call it asks the portal (`mcp_tool_call`, `server:tool`,
arguments) and forwards the call only on allow. A block, an unanswered approval or a portal that
cannot be asked returns a tool error result with the reason (and the approval link): fail closed."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field

HELD_STATES = {"changed"}  # described differently from what a reviewer approved: a rug pull


@dataclass
class GatewayState:
    server_id: str
    tools: dict = field(default_factory=dict)  # name -> upstream Tool, as last listed (and not held)
    held: dict = field(default_factory=dict)  # name -> reason


def _observe(client, server_id: str, tool) -> dict:
    return client.request(
        "POST",
        "/api/v1/mcp-tools/observe",
        {
            "server_id": server_id,
            "tool": tool.name,
            "description": tool.description or "",
            "input_schema": tool.input_schema or {},
        },
    )


def build_server(*, upstream=None, gate, state: GatewayState | None = None, routes: dict | None = None):
    """The downstream-facing MCP server over initialised mcp.ClientSessions: one (`upstream`, `state`),
    or several (`routes`: server id -> (session, GatewayState)), whose tools are then `<server>__<tool>`."""
    import anyio
    from mcp import types
    from mcp.server.lowlevel import Server
    from mcp.shared.exceptions import MCPError

    from .gate import ALLOW, ProposedAction
    from .portal import PortalError

    routes = routes or {state.server_id: (upstream, state)}
    namespaced = len(routes) > 1

    def refusal(text: str) -> types.CallToolResult:
        return types.CallToolResult(content=[types.TextContent(text=text)], is_error=True)

    async def visible_tools(session, state: GatewayState, params) -> tuple[list, str | None]:
        listed = await session.list_tools(params=params)
        visible = []
        for tool in listed.tools:
            try:
                observed = await anyio.to_thread.run_sync(_observe, gate.client, state.server_id, tool)
            except PortalError as exc:
                # Nothing is listed that the registry has not seen: fail closed.
                raise MCPError(-32603, f"CAVRA cannot check the tools of {state.server_id}: {exc}")
            status = (observed.get("tool") or {}).get("status")
            if status in HELD_STATES or observed.get("changed"):
                state.held[tool.name] = (
                    f"CAVRA holds {state.server_id}:{tool.name}: its description or input schema changed "
                    "since it was approved; an operator must re-approve it."
                )
                state.tools.pop(tool.name, None)
                continue
            state.held.pop(tool.name, None)
            state.tools[tool.name] = tool
            visible.append(
                tool.model_copy(update={"name": f"{state.server_id}__{tool.name}"}) if namespaced else tool
            )
        return visible, listed.next_cursor

    async def list_tools(ctx, params) -> types.ListToolsResult:
        if not namespaced:
            session, state = next(iter(routes.values()))
            tools, cursor = await visible_tools(session, state, params)
            return types.ListToolsResult(tools=tools, next_cursor=cursor)
        tools = []
        for session, state in routes.values():
            cursor, first = None, True
            while first or cursor:  # every page of every upstream: one merged list has no shared cursor
                page = types.PaginatedRequestParams(cursor=cursor) if cursor else None
                more, cursor = await visible_tools(session, state, page)
                tools.extend(more)
                first = False
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
        name, arguments = params.name, params.arguments or {}
        if namespaced:
            server_id, sep, name = name.partition("__")
            if not sep or server_id not in routes:
                return refusal(
                    f"CAVRA: no upstream server serves {params.name!r} (tools are <server>__<tool>)."
                )
        else:
            server_id = next(iter(routes))
        session, state = routes[server_id]
        if name in state.held:
            return refusal(state.held[name])
        tool = state.tools.get(name)
        mcp = {"server": state.server_id, "tool": name, "arguments": arguments}
        if tool is not None:
            mcp.update(description=tool.description or "", input_schema=tool.input_schema or {})
        proposed = ProposedAction(
            "mcp_tool_call", f"{state.server_id}:{name}", mcp=mcp, context={"agent": "mcp-gateway"}
        )
        answer = await anyio.to_thread.run_sync(gate.check, proposed)
        if answer.verdict != ALLOW:
            return refusal(answer.reason)
        return await session.call_tool(name, arguments)

    names = ", ".join(routes)
    return Server(
        "cavra-mcp-gateway",
        version="1",
        instructions=f"Tools of {names}, governed by CAVRA: every call is decided by the portal first.",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


async def serve(
    *, server_id: str = "", command: list[str] | None = None, gate, transport: str = "stdio",
    host="127.0.0.1", port=0, upstreams: list[tuple[str, list[str]]] | None = None,
):  # fmt: skip
    from contextlib import AsyncExitStack

    from mcp import ClientSession, StdioServerParameters, stdio_client

    upstreams = upstreams or [(server_id, command)]
    async with AsyncExitStack() as stack:
        routes = {}
        for upstream_id, argv in upstreams:
            params = StdioServerParameters(command=argv[0], args=argv[1:], env=dict(os.environ))
            read, write = await stack.enter_async_context(stdio_client(params))
            session = await stack.enter_async_context(ClientSession(read, write))
            await session.initialize()
            routes[upstream_id] = (session, GatewayState(upstream_id))
        server = build_server(gate=gate, routes=routes)
        if transport == "stdio":
            from mcp.server.stdio import stdio_server

            async with stdio_server() as (down_read, down_write):
                await server.run(down_read, down_write, server.create_initialization_options())
        else:
            import uvicorn

            app = server.streamable_http_app(host=host)  # DNS-rebinding protection for loopback hosts
            config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
            await uvicorn.Server(config).serve()


def load_upstreams(path: str) -> list[tuple[str, list[str]]]:
    """`{"upstreams": [{"server": "github", "command": ["npx", "..."]}, ...]}`; ValueError names the entry."""
    import json
    import re

    with open(path, encoding="utf-8") as handle:
        document = json.load(handle)
    entries = document.get("upstreams") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ValueError("the config needs a non-empty `upstreams` list")
    out, seen = [], set()
    for n, entry in enumerate(entries):
        server = entry.get("server") if isinstance(entry, dict) else None
        command = entry.get("command") if isinstance(entry, dict) else None
        if (
            not isinstance(server, str)
            or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", server)
            or "__" in server
        ):
            raise ValueError(
                f"upstreams[{n}].server: a registered server id (letters, digits, . _ -; no '__')"
            )
        if server in seen:
            raise ValueError(f"upstreams[{n}].server: {server!r} is listed twice")
        if not isinstance(command, list) or not command or not all(isinstance(a, str) and a for a in command):
            raise ValueError(
                f"upstreams[{n}].command: a non-empty list of strings (the server's command line)"
            )
        seen.add(server)
        out.append((server, command))
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="cavra mcp-gateway",
        description="Put CAVRA in front of MCP servers: cavra mcp-gateway --server ID -- COMMAND [ARGS...] "
        "| --config upstreams.json",
    )
    parser.add_argument("--server", help="the server's id as registered in CAVRA (e.g. github)")
    parser.add_argument(
        "--config", help='several upstreams: JSON {"upstreams": [{"server": ID, "command": [...]}, ...]}'
    )
    parser.add_argument("--transport", choices=["stdio", "streamable-http"], default="stdio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- the upstream server's command line")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 2 if exc.code else 0
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if args.config:
        if args.server or command:
            sys.stderr.write("cavra mcp-gateway: give either --config or --server ID -- COMMAND, not both\n")
            return 2
        try:
            upstreams = load_upstreams(args.config)
        except (OSError, ValueError) as exc:
            sys.stderr.write(f"cavra mcp-gateway: not starting: {args.config}: {exc}\n")
            return 2
    elif not args.server or not command:
        sys.stderr.write("cavra mcp-gateway: give --server ID and the upstream server's command after --\n")
        return 2
    else:
        upstreams = [(args.server, command)]
    from .config import ConfigError, load_config
    from .gate import Gate

    try:
        config = load_config()
    except ConfigError as exc:
        # Without a portal nothing could be allowed; refuse to start rather than serve tools ungoverned.
        sys.stderr.write(f"cavra mcp-gateway: not starting: {exc}\n")
        return 2
    import anyio

    anyio.run(lambda: serve(upstreams=upstreams, gate=Gate(config), transport=args.transport,
                            host=args.host, port=args.port))  # fmt: skip
    return 0
