"""`cavra hook`, `cavra init`, `cavra ci`, `cavra bundle`: the agent-side commands (no Django)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

HOOK_MATCHER = "*"
HOOK_COMMAND = "cavra hook claude-code"


def _hook(argv: list[str]) -> int:
    if argv != ["claude-code"]:
        sys.stderr.write(
            "usage: cavra hook claude-code   (reads Claude Code's PreToolUse/PostToolUse JSON on stdin)\n"
        )
        return 2
    from .claude_code import run_hook

    return run_hook()


def merge_claude_settings(settings: dict, command: str = HOOK_COMMAND, timeout: int = 120) -> dict:
    """Add the PreToolUse (decide) and PostToolUse (record the outcome) hooks to a Claude Code settings
    document once each, keeping everything else."""
    hooks = settings.setdefault("hooks", {})
    for event, event_timeout in (("PreToolUse", timeout), ("PostToolUse", 30)):
        entries = hooks.setdefault(event, [])
        present = any(
            isinstance(hook, dict) and hook.get("command") == command
            for entry in entries
            if isinstance(entry, dict)
            for hook in entry.get("hooks", [])
        )
        if not present:
            entries.append(
                {
                    "matcher": HOOK_MATCHER,
                    "hooks": [{"type": "command", "command": command, "timeout": event_timeout}],
                }
            )
    return settings


def _init(argv: list[str]) -> int:
    import argparse  # here, not at the top: the hook shares this module and argparse is slow to import

    parser = argparse.ArgumentParser(prog="cavra init claude-code")
    parser.add_argument("agent", choices=["claude-code"])
    parser.add_argument("--project", default=".", help="the project directory (default: current)")
    parser.add_argument("--no-check", action="store_true", help="do not ask the portal")
    args = parser.parse_args(argv)
    path = Path(args.project) / ".claude" / "settings.json"
    try:
        settings = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except ValueError as exc:
        sys.stderr.write(f"cavra init: {path} is not valid JSON ({exc}); fix it first.\n")
        return 2
    if not isinstance(settings, dict):
        sys.stderr.write(f"cavra init: {path} must hold a JSON object.\n")
        return 2
    merged = merge_claude_settings(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
    print(f"wrote the CAVRA PreToolUse hook into {path} (no secret: the token stays in your environment)")
    if args.no_check:
        return 0
    from .config import ConfigError, load_config
    from .portal import PortalClient, PortalError

    try:
        config = load_config(project_dir=str(Path(args.project).resolve()))
        client = PortalClient(config.base_url, config.token, timeout=config.timeout)
        client.request("GET", "/api/v1/health")
        client.request("GET", "/api/v1/decisions?limit=1")
    except (ConfigError, PortalError) as exc:
        sys.stderr.write(f"cavra init: the hook is installed but cannot reach the portal yet: {exc}\n")
        return 1
    print(f"connected to {config.base_url}: the agent token works")
    return 0


def _sync(argv: list[str]) -> int:
    """Upload the offline spool; the portal records each entry once, so re-sending is harmless."""
    if argv:
        sys.stderr.write("usage: cavra sync   (uploads $CAVRA_STATE_DIR/offline-spool.jsonl)\n")
        return 2
    from .bundle import BundleError, Spool
    from .config import ConfigError, load_config
    from .portal import PortalClient, PortalError

    try:
        config = load_config()
        entries = Spool(Path(config.state_dir) / "offline-spool.jsonl").entries() if config.state_dir else []
    except (ConfigError, BundleError) as exc:
        sys.stderr.write(f"cavra sync: {exc}\n")
        return 2
    if not entries:
        print("cavra sync: nothing to upload")
        return 0
    client = PortalClient(config.base_url, config.token, timeout=max(config.timeout, 30))
    accepted = duplicates = 0
    try:
        for start in range(0, len(entries), 200):
            answer = client.request(
                "POST", "/api/v1/offline-decisions", {"entries": entries[start : start + 200]}
            )
            accepted += int(answer.get("accepted") or 0)
            duplicates += int(answer.get("duplicates") or 0)
    except PortalError as exc:
        sys.stderr.write(f"cavra sync: {exc}; the spool is kept, run it again later\n")
        return 1
    print(f"cavra sync: {accepted} offline decision(s) recorded, {duplicates} already known")
    return 0


def main(argv: list[str]) -> int:
    command, rest = argv[0], argv[1:]
    if command == "hook":
        return _hook(rest)
    if command == "init":
        return _init(rest)
    if command == "ci":
        from .ci import main as ci_main

        return ci_main(rest)
    if command == "bundle":
        from .bundle import main as bundle_main

        return bundle_main(rest)
    if command == "sandbox":
        from .sandbox import main as sandbox_main

        return sandbox_main(rest)
    if command == "sync":
        return _sync(rest)
    if command == "mcp-gateway":
        from .mcp_gateway import main as gateway_main

        return gateway_main(rest)
    sys.stderr.write(f"cavra: unknown command {command!r}\n")
    return 2
