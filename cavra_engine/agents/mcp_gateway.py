"""`cavra mcp-gateway`: an MCP server to the client and an MCP client to one upstream server, built on
the official `mcp` SDK. On tools/list it reports each tool's description and input schema to the
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


def build_server(*, upstream, gate, state: GatewayState):
    """The downstream-facing MCP server; `upstream` is an initialised mcp.ClientSession."""
    import anyio
    from mcp import types
    from mcp.server.lowlevel import Server
    from mcp.shared.exceptions import MCPError

    from .gate import ALLOW, ProposedAction
    from .portal import PortalError

    def refusal(text: str) -> types.CallToolResult:
        return types.CallToolResult(content=[types.TextContent(text=text)], is_error=True)

    async def list_tools(ctx, params) -> types.ListToolsResult:
        listed = await upstream.list_tools(params=params)
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
            visible.append(tool)
        return types.ListToolsResult(tools=visible, next_cursor=listed.next_cursor)

    async def call_tool(ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
        name, arguments = params.name, params.arguments or {}
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
        return await upstream.call_tool(name, arguments)

    return Server(
        "cavra-mcp-gateway",
        version="1",
        instructions=f"Tools of {state.server_id}, governed by CAVRA: every call is decided by the portal first.",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


async def serve(
    *, server_id: str, command: list[str], gate, transport: str = "stdio", host="127.0.0.1", port=0
):
    from mcp import ClientSession, StdioServerParameters, stdio_client

    params = StdioServerParameters(command=command[0], args=command[1:], env=dict(os.environ))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as upstream:
        await upstream.initialize()
        server = build_server(upstream=upstream, gate=gate, state=GatewayState(server_id))
        if transport == "stdio":
            from mcp.server.stdio import stdio_server

            async with stdio_server() as (down_read, down_write):
                await server.run(down_read, down_write, server.create_initialization_options())
        else:
            import uvicorn

            app = server.streamable_http_app(host=host)  # DNS-rebinding protection for loopback hosts
            config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
            await uvicorn.Server(config).serve()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="cavra mcp-gateway",
        description="Put CAVRA in front of one MCP server: cavra mcp-gateway --server ID -- COMMAND [ARGS...]",
    )
    parser.add_argument(
        "--server", required=True, help="the server's id as registered in CAVRA (e.g. github)"
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
    if not command:
        sys.stderr.write("cavra mcp-gateway: give the upstream server's command after --\n")
        return 2
    from .config import ConfigError, load_config
    from .gate import Gate

    try:
        config = load_config()
    except ConfigError as exc:
        # Without a portal nothing could be allowed; refuse to start rather than serve tools ungoverned.
        sys.stderr.write(f"cavra mcp-gateway: not starting: {exc}\n")
        return 2
    import anyio

    anyio.run(lambda: serve(server_id=args.server, command=command, gate=Gate(config), transport=args.transport,
                            host=args.host, port=args.port))  # fmt: skip
    return 0
