"""Claude Code's PreToolUse command hook: its documented JSON on stdin, a permission decision out.

Input (stdin): {session_id, transcript_path, cwd, permission_mode, hook_event_name, tool_name,
tool_input, tool_use_id}. Output (stdout, exit 0):
{"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "allow|deny|ask",
"permissionDecisionReason": "..."}}. Where that JSON cannot be produced (stdin is not a hook
payload), the hook exits 2 with the reason on stderr, which Claude Code also treats as a block."""

from __future__ import annotations

import json
import os
import sys
from pathlib import PurePosixPath

from .gate import ALLOW, ASK, DENY, ProposedAction

WARN = "warn"  # the v1 outcome (cavra_engine.policy.vocabulary.WARN; not imported: hook start-up stays lean)

READ_TOOLS = {"Read": "file_path", "Glob": "path", "Grep": "path"}
WRITE_TOOLS = {
    "Write": "file_path",
    "Edit": "file_path",
    "MultiEdit": "file_path",
    "NotebookEdit": "notebook_path",
}
NETWORK_TOOLS = {"WebFetch", "WebSearch"}


class HookInputError(ValueError):
    """The payload is not something the hook can map to an action: deny."""


def _text(tool_input: dict, key: str, tool: str) -> str:
    value = tool_input.get(key)
    if not isinstance(value, str) or not value.strip():
        raise HookInputError(f"{tool} input has no `{key}`")
    if "\x00" in value:
        raise HookInputError(f"{tool} input `{key}` contains a NUL byte")
    return value


def pattern_root(pattern: str) -> str:
    """The directory a glob pattern cannot leave: its leading components without wildcards."""
    parts = []
    for part in PurePosixPath(pattern).parts:
        if any(ch in part for ch in "*?[{"):
            break
        parts.append(part)
    return str(PurePosixPath(*parts)) if parts else "."


def map_tool(payload: dict) -> ProposedAction:
    """The decision API action for one Claude Code tool call (see docs/agent-reach.md for the table)."""
    tool = payload.get("tool_name")
    tool_input = payload.get("tool_input")
    if not isinstance(tool, str) or not tool:
        raise HookInputError("the hook payload has no tool_name")
    if not isinstance(tool_input, dict):
        raise HookInputError(f"the hook payload for {tool} has no tool_input object")
    cwd = payload.get("cwd") if isinstance(payload.get("cwd"), str) else None
    project = os.environ.get("CLAUDE_PROJECT_DIR") or cwd
    context = {
        "agent": "claude-code",
        "tool_name": tool,
        "cwd": cwd,
        "repo_root": project,
        "claude_session_id": payload.get("session_id")
        if isinstance(payload.get("session_id"), str)
        else None,
        "tool_use_id": payload.get("tool_use_id") if isinstance(payload.get("tool_use_id"), str) else None,
    }
    context = {k: v for k, v in context.items() if v}
    if tool == "Bash":
        return ProposedAction("execute_command", _text(tool_input, "command", tool), context=context)
    if tool == "Read":
        return ProposedAction("read_file", _text(tool_input, "file_path", tool), context=context)
    if tool in ("Glob", "Grep"):
        base = (
            tool_input.get("path") if isinstance(tool_input.get("path"), str) and tool_input["path"] else None
        )
        pattern = _text(tool_input, "pattern", tool)
        if tool == "Glob":
            root = pattern_root(pattern)
            target = root if base is None else str(PurePosixPath(base) / root) if root != "." else base
        else:
            target = base or cwd or "."
        return ProposedAction("read_file", target, context={**context, "pattern": pattern[:500]})
    if tool in WRITE_TOOLS:
        return ProposedAction("write_file", _text(tool_input, WRITE_TOOLS[tool], tool), context=context)
    if tool == "WebFetch":
        return ProposedAction(
            "network_request", _text(tool_input, "url", tool), method="GET", context=context
        )
    if tool == "WebSearch":
        query = _text(tool_input, "query", tool)
        return ProposedAction("network_request", f"websearch:{query}", method="GET", context=context)
    if tool.startswith("mcp__"):
        server, sep, name = tool[len("mcp__") :].partition("__")
        if not server or not sep or not name:
            raise HookInputError(f"MCP tool name {tool!r} is not mcp__<server>__<tool>")
        return ProposedAction(
            "mcp_tool_call",
            f"{server}:{name}",
            mcp={"server": server, "tool": name, "arguments": tool_input},
            context=context,
        )
    raise HookInputError(f"CAVRA has no mapping for the tool {tool!r}, so it cannot allow it")


def hook_output(verdict: str, reason: str) -> dict:
    assert verdict in (ALLOW, DENY, ASK)
    return {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": verdict,
            "permissionDecisionReason": reason,
        }
    }


def read_payload(stream) -> dict:
    raw = stream.read(1024 * 1024 + 1)
    if len(raw) > 1024 * 1024:
        raise HookInputError("the hook payload is larger than 1 MiB")
    try:
        payload = json.loads(raw)
    except ValueError as exc:
        raise HookInputError(f"stdin is not JSON ({exc})")
    if not isinstance(payload, dict):
        raise HookInputError("stdin is not a JSON object")
    return payload


def run_hook(stdin=None, stdout=None, stderr=None) -> int:
    """The whole hook. PreToolUse: exit 0 with a decision on stdout, or exit 2 with the reason on
    stderr. PostToolUse: records the outcome against the decision (exit 1, a non-blocking error, if
    it cannot)."""
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    try:
        payload = read_payload(stdin)
    except HookInputError as exc:
        stderr.write(f"CAVRA blocked this tool call: {exc}.\n")
        return 2
    event = payload.get("hook_event_name")
    if event == "PostToolUse":
        return run_post_tool_use(payload, stderr)
    if event not in (None, "PreToolUse"):
        stderr.write(
            "CAVRA blocked this tool call: `cavra hook claude-code` handles PreToolUse and PostToolUse, "
            f"not {event!r}.\n"
        )
        return 2
    try:
        verdict, reason = _decide(payload)
    except Exception as exc:  # noqa: BLE001 - whatever breaks, the tool call is denied, never allowed
        verdict, reason = DENY, f"CAVRA denied this action: the hook failed ({type(exc).__name__}: {exc})."
    try:
        stdout.write(json.dumps(hook_output(verdict, reason)) + "\n")
        stdout.flush()
    except (OSError, ValueError) as exc:
        stderr.write(f"{reason} (and the hook could not write its answer: {exc})\n")
        return 2
    return 0


def _decide(payload: dict) -> tuple[str, str]:
    from .config import ConfigError, load_config
    from .gate import Gate

    try:
        proposed = map_tool(payload)
    except HookInputError as exc:
        return DENY, f"CAVRA denied this action: {exc}."
    cwd = payload.get("cwd") if isinstance(payload.get("cwd"), str) else None
    try:
        config = load_config(project_dir=os.environ.get("CLAUDE_PROJECT_DIR") or cwd)
    except ConfigError as exc:
        return DENY, f"CAVRA denied this action: the hook is not configured: {exc}"
    answer = Gate(config).check(proposed)
    if answer.verdict == ALLOW and answer.decision_id and isinstance(payload.get("tool_use_id"), str):
        _remember_tool_use(config.state_dir, payload["tool_use_id"], answer.decision_id)
    if answer.verdict == ALLOW and (answer.answer or {}).get("outcome") == WARN:
        # The policy allows it but wants the user told first: Claude Code's `ask` is exactly that, and
        # it is never looser than the portal's answer (a require_approval is never turned into `ask`:
        # the local user would approve in place of the reviewer).
        return ASK, answer.reason.replace("CAVRA allowed", "CAVRA warns (confirm to proceed)", 1)
    return answer.verdict, answer.reason


def _tool_use_path(state_dir, tool_use_id: str):
    from pathlib import Path

    from .gate import _sha256

    if state_dir is None:
        return None
    return Path(state_dir) / "tool-uses" / (_sha256(tool_use_id.encode()).hexdigest()[:40] + ".json")


def _remember_tool_use(state_dir, tool_use_id: str, decision_id: str) -> None:
    """So PostToolUse can name the decision its outcome belongs to."""
    path = _tool_use_path(state_dir, tool_use_id)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(json.dumps({"decision_id": decision_id}), encoding="utf-8")
    except OSError:
        pass  # only the outcome record is lost, never the decision


def _failed(response) -> bool:
    if isinstance(response, dict):
        return response.get("success") is False or bool(response.get("is_error") or response.get("isError"))
    return False


def run_post_tool_use(payload: dict, stderr) -> int:
    import hashlib

    from .config import ConfigError, load_config
    from .portal import PortalClient, PortalError

    tool_use_id = payload.get("tool_use_id")
    if not isinstance(tool_use_id, str) or not tool_use_id:
        return 0
    cwd = payload.get("cwd") if isinstance(payload.get("cwd"), str) else None
    try:
        config = load_config(project_dir=os.environ.get("CLAUDE_PROJECT_DIR") or cwd)
    except ConfigError as exc:
        stderr.write(f"CAVRA could not record the outcome: {exc}\n")
        return 1
    path = _tool_use_path(config.state_dir, tool_use_id)
    try:
        decision_id = json.loads(path.read_text(encoding="utf-8"))["decision_id"] if path else None
    except (OSError, ValueError, KeyError, TypeError):
        decision_id = None
    if not decision_id:
        return 0  # not decided online by this machine (offline bundle, or another hook): nothing to attach
    response = payload.get("tool_response")
    body = {
        "outcome": "failed" if _failed(response) else "completed",
        "tool_use_id": tool_use_id[:200],
        "response_sha256": hashlib.sha256(
            json.dumps(response, sort_keys=True, default=str).encode()
        ).hexdigest(),
        "detail": str(payload.get("tool_name") or "")[:100],
    }
    try:
        PortalClient(config.base_url, config.token, timeout=config.timeout).request(
            "POST", f"/api/v1/decisions/{decision_id}/outcome", body
        )
    except PortalError as exc:
        stderr.write(f"CAVRA could not record the outcome of {decision_id}: {exc}\n")
        return 1
    try:
        path.unlink()
    except OSError:
        pass
    return 0
