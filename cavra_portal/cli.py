"""The `cavra` command line: offline policy and evidence tools that never import Django."""

from __future__ import annotations

import sys

USAGE = """usage: cavra <command> ...

commands:
  policy validate|test|compile|diff|list   work with policy packs (offline)
  evaluate ACTION TARGET                   decide one action (or --batch FILE) offline
  evidence verify BUNDLE                   verify an evidence bundle offline
  hook claude-code                         Claude Code PreToolUse hook: ask the portal (stdin JSON)
  init claude-code                         install the hook into .claude/settings.json, check the portal
  ci check --base REF --head REF           CI required check: the change against the portal
  bundle pull|verify                       signed offline policy bundles
  sync                                     upload offline decisions (the local spool) into evidence
  sandbox list|run [SCENARIO]              "before the agent acts" scenarios, dry-run against a rollout
  mcp-gateway -- UPSTREAM...               MCP proxy that asks the portal before each tools/call
"""


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command in {"policy", "evaluate"}:
        from cavra_engine.policy.cli import main as policy_main

        return policy_main(argv)
    if command == "evidence":
        from cavra_engine.evidence.cli import main as evidence_main

        return evidence_main(rest)
    if command == "hook":
        # Claude Code treats exit 1 as a non-blocking error and runs the tool anyway: a hook that
        # crashes (a broken install, an import error) must exit 2, which blocks.
        try:
            from cavra_engine.agents.cli import main as agents_main

            return agents_main(argv)
        except BaseException as exc:  # noqa: BLE001
            if isinstance(exc, SystemExit) and exc.code in (0, 2):
                raise
            print(
                f"CAVRA blocked this tool call: the hook failed ({type(exc).__name__}: {exc}).",
                file=sys.stderr,
            )
            return 2
    if command in {"init", "ci", "bundle", "sync", "sandbox", "mcp-gateway"}:
        from cavra_engine.agents.cli import main as agents_main

        return agents_main(argv)
    print(f"cavra: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
