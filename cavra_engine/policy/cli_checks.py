"""`cavra policy canaries` and `cavra policy verify`: the safety canaries and signed versions, offline."""

from __future__ import annotations

import json
from pathlib import Path

from .cli import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    EXIT_TEST_FAILED,
    _err,
    _load_compiled,
    _out,
    _print_policy_error,
    _refs_or_bundled,
)
from .errors import PolicyError


def canaries(args) -> int:
    from .canaries import check_canaries, is_add_on, load_canaries

    try:
        canaries = load_canaries(_read_canaries(args.canaries) if args.canaries else None)
    except PolicyError as exc:
        _print_policy_error(exc)
        return EXIT_BAD_INPUT
    refs = _refs_or_bundled(args.targets)
    failed = 0
    report = []
    for ref in refs:
        compiled = _load_compiled(ref)
        results = check_canaries(compiled, canaries)
        unsafe = [r for r in results if not r["safe"]]
        add_on = is_add_on(compiled)
        if unsafe and not add_on:
            failed += 1
        report.append({"id": compiled.pack_id, "add_on": add_on, "canaries": results})
        if not args.json:
            mark = "ok  " if not unsafe else ("add-on" if add_on else "FAIL")
            _out(f"{mark} {compiled.pack_id}: {len(results) - len(unsafe)}/{len(results)} canaries held back")
            for result in results if args.verbose else ([] if add_on else unsafe):
                _out(f"     {result['decision']:16} {result['id']} ({result['title']})")
    if args.json:
        _out(json.dumps(report, indent=2))
    return EXIT_TEST_FAILED if failed else EXIT_OK


def verify(args) -> int:
    from .signature import verify_policy

    try:
        source = Path(args.policy).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _err(f"cannot read {args.policy}: {getattr(exc, 'strerror', None) or exc}")
        return EXIT_BAD_INPUT
    documents = {}
    for name, path in (
        ("signature", args.signature or args.policy + ".sig.json"),
        ("trust root", args.trust_root),
    ):
        try:
            documents[name] = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            _err(f"cannot read the {name} {path}: {getattr(exc, 'strerror', None) or exc}")
            return EXIT_BAD_INPUT
    result = verify_policy(
        source_text=source, signature=documents["signature"], trust_root=documents["trust root"]
    )
    if args.json:
        _out(json.dumps(result.to_dict(), indent=2))
    elif result.ok:
        doc = result.document
        _out(
            f"ok  {doc.get('pack')} {doc.get('version')} sha256:{doc.get('digest')} signed by {doc.get('key_id')}"
        )
    else:
        for problem in result.problems:
            _err(f"FAIL {problem}")
    return EXIT_OK if result.ok else EXIT_TEST_FAILED


def _read_canaries(path: str) -> list:
    import yaml

    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyError(f"cannot read: {exc.strerror or exc}", file=path)
    except yaml.YAMLError as exc:
        raise PolicyError(f"not YAML: {exc}", file=path)
