"""`cavra policy ...` and `cavra evaluate ...`: offline policy tools with stable exit codes."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .compiled import CompiledPolicy, compile_pack
from .diff import diff_packs
from .errors import PolicyError, format_error
from .loader import BUNDLED_DIR, RECOMMENDED_PACK, bundled_pack_paths, find_pack_file, load_pack_file
from .schema import ACTIONS
from .testing import run_pack_tests

EXIT_OK = 0
EXIT_TEST_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_CODES = {"allow": 0, "require_approval": 3, "block": 4}
DEFAULT_PACK = RECOMMENDED_PACK


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would exit; we return 2 from main instead
        raise _UsageError(f"{self.prog}: {message}")


class _UsageError(Exception):
    pass


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _print_policy_error(exc: PolicyError) -> None:
    for error in exc.errors:
        _err(format_error(error))


def _search_dirs() -> list[Path]:
    dirs = [Path(d) for d in os.environ.get("CAVRA_POLICY_DIR", "").split(os.pathsep) if d.strip()]
    return dirs + [BUNDLED_DIR]


def _pack_path(ref: str) -> Path:
    """A file path, or a pack id looked up in CAVRA_POLICY_DIR and the bundled packs."""
    path = Path(ref)
    if path.is_file():
        return path
    found = find_pack_file(ref, _search_dirs())
    if found is None:
        raise PolicyError(f"no such pack file or pack id: {ref}", file=ref)
    return found


def _load_compiled(ref: str) -> CompiledPolicy:
    path = _pack_path(ref)
    if path.suffix == ".json":
        try:
            return CompiledPolicy.from_json(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise PolicyError(f"cannot read: {exc.strerror or exc}", file=str(path))
    return compile_pack(load_pack_file(path))


def _refs_or_bundled(refs: list[str]) -> list[str]:
    return refs or [str(path) for path in bundled_pack_paths()]


# -- policy subcommands ----------------------------------------------------------------------------


def _validate(args) -> int:
    refs = _refs_or_bundled(args.files)
    if not refs:
        _err("no packs given and no bundled packs found")
        return EXIT_BAD_INPUT
    status = EXIT_OK
    report = []
    for ref in refs:
        try:
            compiled = _load_compiled(ref)
        except PolicyError as exc:
            status = EXIT_BAD_INPUT
            report.append({"file": ref, "valid": False, "errors": exc.errors})
            if not args.json:
                _print_policy_error(exc)
            continue
        report.append({"file": ref, "valid": True, "id": compiled.pack_id, "digest": compiled.digest})
        if not args.json:
            _out(
                f"ok  {ref}  ({compiled.pack_id} {compiled.version}, {len(compiled.rules)} rules, sha256 {compiled.digest})"
            )
    if args.json:
        _out(json.dumps(report, indent=2))
    return status


def _test(args) -> int:
    refs = _refs_or_bundled(args.targets)
    if not refs:
        _err("no packs given and no bundled packs found")
        return EXIT_BAD_INPUT
    invalid = failed = total = 0
    report = []
    for ref in refs:
        try:
            compiled = _load_compiled(ref)
        except PolicyError as exc:
            invalid += 1
            _print_policy_error(exc)
            report.append({"file": ref, "valid": False, "errors": exc.errors})
            continue
        results = run_pack_tests(compiled)
        bad = [result for result in results if not result.passed]
        total += len(results)
        failed += len(bad)
        report.append(
            {"file": ref, "id": compiled.pack_id, "tests": len(results), "failed": [r.to_dict() for r in bad]}
        )
        if not args.json:
            mark = "FAIL" if bad else "ok  "
            _out(f"{mark} {compiled.pack_id}: {len(results) - len(bad)}/{len(results)} tests passed")
            for result in bad:
                want = result.expected_decision + (f" ({result.expected_rule})" if result.checks_rule else "")
                got = f"{result.actual.decision} ({result.actual.rule_id})"
                _out(f"     - {result.name}: expected {want}, got {got}")
            if args.verbose:
                for result in results:
                    if result.passed:
                        _out(f"     + {result.name}")
    if args.json:
        _out(json.dumps(report, indent=2))
    else:
        _out(
            f"{total - failed}/{total} tests passed in {len(refs) - invalid} pack(s)"
            + (f", {invalid} invalid" if invalid else "")
        )
    if invalid:
        return EXIT_BAD_INPUT
    return EXIT_TEST_FAILED if failed else EXIT_OK


def _compile(args) -> int:
    try:
        compiled = _load_compiled(args.file)
    except PolicyError as exc:
        _print_policy_error(exc)
        return EXIT_BAD_INPUT
    text = compiled.to_json()
    if args.out and args.out != "-":
        try:
            Path(args.out).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            _err(f"cannot write {args.out}: {exc.strerror or exc}")
            return EXIT_BAD_INPUT
        _out(f"{compiled.pack_id} {compiled.version} sha256:{compiled.digest} -> {args.out}")
    else:
        _out(text)
    return EXIT_OK


def _diff(args) -> int:
    try:
        old, new = _load_compiled(args.old), _load_compiled(args.new)
    except PolicyError as exc:
        _print_policy_error(exc)
        return EXIT_BAD_INPUT
    result = diff_packs(old, new)
    if args.json:
        _out(json.dumps(result, indent=2, sort_keys=True))
        return EXIT_OK
    _out(f"--- {result['old']['id']} {result['old']['version']} ({result['old']['digest'][:12]})")
    _out(f"+++ {result['new']['id']} {result['new']['version']} ({result['new']['digest'][:12]})")
    if result["identical"]:
        _out("identical")
        return EXIT_OK
    for key, change in result["metadata"].items():
        _out(f"~ metadata.{key}: {change['old']!r} -> {change['new']!r}")
    for change in result["defaults"]:
        old_effect = (change["old"] or {}).get("effect")
        new_effect = (change["new"] or {}).get("effect")
        _out(
            f"~ default {change['action']}: {old_effect} -> {new_effect} {change.get('direction', '')}".rstrip()
        )
    for rule in result["rules_added"]:
        _out(f"+ rule {rule['id']} ({rule['effect']}; {', '.join(rule['actions'])})")
    for rule in result["rules_removed"]:
        _out(f"- rule {rule['id']} ({rule['effect']}; {', '.join(rule['actions'])})")
    for rule in result["rules_changed"]:
        note = f" [{rule['direction']}]" if rule.get("direction") else ""
        _out(f"~ rule {rule['id']}{note}")
        for key, change in rule["fields"].items():
            _out(
                f"    {key}: {json.dumps(change['old'], sort_keys=True)} -> {json.dumps(change['new'], sort_keys=True)}"
            )
        if "moved" in rule:
            _out(f"    position: {rule['moved']['old']} -> {rule['moved']['new']}")
    for case in result["tests_changed"]:
        _out(
            f"! test {case['name']} ({case['action']} {case['target']!r}): "
            f"{case['old']['decision']} ({case['old']['rule_id']}) -> {case['new']['decision']} ({case['new']['rule_id']})"
        )
    summary = result["summary"]
    _out(
        f"{summary['added']} added, {summary['removed']} removed, {summary['changed']} changed "
        f"({summary['tightened']} tightened, {summary['loosened']} loosened), {summary['tests_changed']} test outcome(s) changed"
    )
    return EXIT_OK


def _checks():
    from . import cli_checks

    return cli_checks


def _evaluate(args) -> int:
    from .cli_evaluate import evaluate_command  # imports back from this module, so loaded on use

    return evaluate_command(args)


def _list(args) -> int:
    from . import list_bundled_packs

    infos = list_bundled_packs()
    if args.json:
        _out(json.dumps([info.to_dict() for info in infos], indent=2))
        return EXIT_OK
    if not infos:
        _out("no bundled packs")
    for info in infos:
        _out(f"{info.id:24} {info.version:10} {info.digest[:12]}  {info.title}")
    return EXIT_OK


def _parsers() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    policy = _Parser(prog="cavra policy", description="Validate, test, compile, diff and list policy packs.")
    sub = policy.add_subparsers(dest="command", required=True, parser_class=_Parser)
    validate = sub.add_parser("validate", help="check packs (files or ids); exit 2 if any is invalid")
    validate.add_argument("files", nargs="*")
    validate.add_argument("--json", action="store_true")
    test = sub.add_parser("test", help="run embedded tests; exit 1 on a failure, 2 on an invalid pack")
    test.add_argument("targets", nargs="*", metavar="FILE|PACK")
    test.add_argument("--json", action="store_true")
    test.add_argument("-v", "--verbose", action="store_true")
    compile_ = sub.add_parser("compile", help="write the canonical compiled JSON")
    compile_.add_argument("file")
    compile_.add_argument("--out", "-o")
    diff = sub.add_parser("diff", help="semantic diff of two packs")
    diff.add_argument("old")
    diff.add_argument("new")
    diff.add_argument("--json", action="store_true")
    canaries = sub.add_parser(
        "canaries",
        help="check the safety canaries; exit 1 if a pack that is not a declared add-on allows one",
    )
    canaries.add_argument("targets", nargs="*", metavar="FILE|PACK")
    canaries.add_argument(
        "--canaries", metavar="FILE", help="YAML list of canaries (default: the shipped list)"
    )
    canaries.add_argument("--json", action="store_true")
    canaries.add_argument("-v", "--verbose", action="store_true")
    verify = sub.add_parser(
        "verify", help="check a signed policy version offline; exit 1 if it does not verify, 2 bad input"
    )
    verify.add_argument("policy", metavar="policy.yaml")
    verify.add_argument("--signature", help="default: POLICY.sig.json")
    verify.add_argument(
        "--trust-root", required=True, help="trust root JSON from the portal ({'keys': [...]})"
    )
    verify.add_argument("--json", action="store_true")
    list_ = sub.add_parser("list", help="bundled packs")
    list_.add_argument("--json", action="store_true")

    ev = _Parser(
        prog="cavra evaluate",
        description="Decide one action offline. Exit 0 allow, 3 require_approval, 4 block, 2 bad input.",
    )
    ev.add_argument("action", nargs="?", help=" | ".join(ACTIONS))
    ev.add_argument("target", nargs="?")
    source = ev.add_mutually_exclusive_group()
    source.add_argument(
        "--pack",
        help="pack id (bundled or in CAVRA_POLICY_DIR); default the recommended pack, " + RECOMMENDED_PACK,
    )
    source.add_argument("--policy", help="pack file (.yaml) or compiled policy (.json)")
    source.add_argument(
        "--bundle", help="signed policy bundle (from `cavra bundle pull`); needs --trust-root"
    )
    ev.add_argument("--trust-root", help="trust root that must verify --bundle (default CAVRA_TRUST_ROOT)")
    ev.add_argument("--repo-root")
    ev.add_argument("--cwd")
    ev.add_argument("--repository")
    ev.add_argument("--environment")
    ev.add_argument("--agent-profile")
    ev.add_argument("--operation", help="git operation")
    ev.add_argument("--branch", help="git target branch")
    ev.add_argument("--remote")
    ev.add_argument("--force", action="store_true", help="git: forced")
    ev.add_argument("--server", help="MCP server")
    ev.add_argument("--tool", help="MCP tool")
    ev.add_argument("--capability", help="MCP capability class")
    ev.add_argument("--method", help="HTTP method")
    ev.add_argument("--context", help="JSON object")
    ev.add_argument("--json", action="store_true")
    ev.add_argument("--batch", metavar="FILE|-", help="JSON Lines in, one JSON result per line out")
    return policy, ev


def main(argv: list[str]) -> int:
    """Entry point for `cavra policy ...` and `cavra evaluate ...` (argv[0] is the command)."""
    argv = list(argv)
    if not argv or argv[0] not in ("policy", "evaluate"):
        _err("usage: cavra policy ... | cavra evaluate ...")
        return EXIT_BAD_INPUT
    policy_parser, evaluate_parser = _parsers()
    parser = policy_parser if argv[0] == "policy" else evaluate_parser
    try:
        args = parser.parse_args(argv[1:])
    except _UsageError as exc:
        _err(str(exc))
        _err(parser.format_usage().rstrip())
        return EXIT_BAD_INPUT
    except SystemExit as exc:  # --help
        return int(exc.code or 0) if isinstance(exc.code, int) else EXIT_OK
    try:
        if argv[0] == "evaluate":
            return _evaluate(args)
        handler = {
            "validate": _validate,
            "test": _test,
            "compile": _compile,
            "diff": _diff,
            "list": _list,
            "canaries": lambda a: _checks().canaries(a),
            "verify": lambda a: _checks().verify(a),
        }[args.command]
        return handler(args)
    except PolicyError as exc:
        _print_policy_error(exc)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        return EXIT_OK
