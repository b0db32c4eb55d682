"""`cavra evidence ...`: offline evidence commands (no Django, no database)."""

from __future__ import annotations

import argparse
import json
import sys
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .verify import verify_file


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cavra evidence", description="Offline evidence tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="verify an evidence bundle offline")
    verify.add_argument("bundle", help="bundle file (.zip) exported from the portal")
    verify.add_argument(
        "--trust-root", dest="trust_root", help="trust root JSON obtained independently of the bundle"
    )
    verify.add_argument("--json", action="store_true", help="print the result as JSON")
    verify.add_argument(
        "--witness", action="append", default=[], metavar="HEAD.json",
        help="a head countersigned by a witness (its GET /v1/heads/<tenant> answer); repeatable",
    )  # fmt: skip
    verify.add_argument("--witness-key", help="the witness's Ed25519 public key, 64 hex digits")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Exit codes: 0 intact, 1 verification failed, 2 usage error or unreadable file."""
    try:
        args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    started = time.perf_counter()
    witnessed = []
    if args.witness:
        try:
            key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(args.witness_key or ""))
            witnessed = [(json.loads(open(path, encoding="utf-8").read()), key) for path in args.witness]
        except (OSError, ValueError) as exc:
            print(f"cavra evidence verify: --witness/--witness-key: {exc}", file=sys.stderr)
            return 2
    try:
        report = verify_file(args.bundle, args.trust_root, witnessed=witnessed)
    except OSError as exc:
        print(f"cavra evidence verify: cannot read {args.bundle}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    if args.json:
        print(json.dumps({**report.as_dict(), "seconds": round(elapsed, 3)}, indent=2, sort_keys=True))
        return 0 if report.ok else 1
    if report.ok:
        s = report.summary
        print(
            f"OK  bundle intact: tenant {s['tenant']}, records seq {s['first_seq']}..{s['last_seq']} ({s['records']} records)"
        )
        print(f"    {s['checkpoints']} signed checkpoint(s); head hash {s['head_hash']}")
        print(f"    format {s['format']}; latest signed head at export: #{s['latest_checkpoint']}")
        if s.get("note"):
            print(f"    note: {s['note']}")
        print(f"    signing keys: {', '.join(s['signing_keys'])}; trust root: {s['trust_root']}")
        print(
            f"    bundle created {s['bundle_created_at']}; selection {json.dumps(s['selection'], sort_keys=True)}"
        )
        print(f"    verified in {elapsed:.2f}s")
        return 0
    print(
        f"FAILED  bundle {args.bundle} did not verify ({len(report.problems)} problem(s)):", file=sys.stderr
    )
    for problem in report.problems:
        print(f"  - {problem}", file=sys.stderr)
    return 1
