"""`cavra evaluate`: one action, a batch of JSON lines, or an action against a signed offline bundle."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .cli import (
    DEFAULT_PACK,
    EXIT_BAD_INPUT,
    EXIT_CODES,
    EXIT_OK,
    _err,
    _load_compiled,
    _out,
    _print_policy_error,
    _search_dirs,
)
from .compiled import CompiledPolicy, compile_pack, evaluate
from .errors import PolicyError, format_error
from .evaluator import ActionRequest
from .loader import find_pack_file, load_pack_file
from .schema import ACTIONS


class _Packs:
    """Compiled packs by reference, so a batch compiles each pack once."""

    def __init__(self) -> None:
        self.cache: dict[tuple[str, str], CompiledPolicy] = {}

    def get(self, *, pack: str | None, policy: str | None) -> CompiledPolicy:
        if pack and policy:
            raise PolicyError("give either a pack or a policy file, not both", file="<request>")
        key = ("policy", policy) if policy else ("pack", pack or DEFAULT_PACK)
        if key not in self.cache:
            if policy:
                self.cache[key] = _load_compiled(policy)
            else:
                pack_id = pack or DEFAULT_PACK
                path = find_pack_file(pack_id, _search_dirs())
                if path is None:
                    raise PolicyError(f"no pack {pack_id!r} (bundled or in CAVRA_POLICY_DIR)", file=pack_id)
                self.cache[key] = compile_pack(load_pack_file(path))
        return self.cache[key]


def _request_from_mapping(item: dict) -> ActionRequest:
    action = item.get("action")
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
    target = item.get("target")
    if not isinstance(target, str):
        raise ValueError("target must be a string")
    fields = {}
    for key in ("repository", "environment", "agent_profile", "repo_root"):
        value = item.get(key)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{key} must be a string")
        fields[key] = value
    for key in ("git", "mcp", "network", "context"):
        value = item.get(key)
        if value is not None and not isinstance(value, dict):
            raise ValueError(f"{key} must be an object")
        fields[key] = value
    return ActionRequest(action=action, target=target, **fields)


def _result(verdict, compiled: CompiledPolicy) -> dict:
    data = verdict.to_dict()
    data["policy"] = {"pack": compiled.pack_id, "version": compiled.version, "digest": compiled.digest}
    return data


def _batch(args, packs: _Packs) -> int:
    try:
        stream = sys.stdin if args.batch == "-" else open(args.batch, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        _err(f"cannot read {args.batch}: {exc.strerror or exc}")
        return EXIT_BAD_INPUT
    bad = 0
    try:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                if not isinstance(item, dict):
                    raise ValueError("each line must be a JSON object")
                request = _request_from_mapping(item)
                compiled = packs.get(
                    pack=item.get("pack") or args.pack, policy=item.get("policy") or args.policy
                )
                if request.repo_root is None:
                    request.repo_root = args.repo_root
                result = {"line": number, **_result(evaluate(compiled, request), compiled)}
            except PolicyError as exc:
                bad += 1
                result = {"line": number, "error": "; ".join(format_error(e) for e in exc.errors)}
            except (ValueError, TypeError) as exc:
                bad += 1
                result = {"line": number, "error": str(exc)}
            sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
    except UnicodeDecodeError:
        _err("batch input is not UTF-8")
        return EXIT_BAD_INPUT
    finally:
        if stream is not sys.stdin:
            stream.close()
    sys.stdout.flush()
    return EXIT_BAD_INPUT if bad else EXIT_OK


def evaluate_command(args) -> int:
    packs = _Packs()
    if args.batch:
        if args.action or args.target:
            _err("cavra evaluate: --batch takes no ACTION/TARGET")
            return EXIT_BAD_INPUT
        return _batch(args, packs)
    if not args.action or args.target is None:
        _err("cavra evaluate: ACTION and TARGET are required (or --batch FILE)")
        return EXIT_BAD_INPUT
    if args.action not in ACTIONS:
        _err(f"cavra evaluate: unknown action {args.action!r}; expected one of {', '.join(ACTIONS)}")
        return EXIT_BAD_INPUT
    try:
        context = json.loads(args.context) if args.context else {}
        if not isinstance(context, dict):
            raise ValueError
    except ValueError:
        _err("cavra evaluate: --context must be a JSON object")
        return EXIT_BAD_INPUT
    if args.cwd:
        context["cwd"] = args.cwd
    git = None
    if args.operation or args.branch or args.force or args.remote:
        git = {"operation": args.operation, "branch": args.branch, "force": args.force, "remote": args.remote}
    mcp = None
    if args.server or args.tool or args.capability:
        mcp = {"server": args.server, "tool": args.tool, "capability": args.capability}
    request = ActionRequest(
        action=args.action,
        target=args.target,
        repository=args.repository,
        environment=args.environment,
        agent_profile=args.agent_profile,
        repo_root=args.repo_root,
        git=git,
        mcp=mcp,
        network={"method": args.method} if args.method else None,
        context=context or None,
    )
    if args.bundle:
        return _evaluate_bundle(args, request)
    try:
        compiled = packs.get(pack=args.pack, policy=args.policy)
    except PolicyError as exc:
        _print_policy_error(exc)
        return EXIT_BAD_INPUT
    verdict = evaluate(compiled, request)
    if args.json:
        _out(json.dumps(_result(verdict, compiled), indent=2, sort_keys=True))
    else:
        _out(f"{verdict.decision}  rule={verdict.rule_id or '-'}  severity={verdict.severity}")
        _out(f"  reason: {verdict.reason}")
        if verdict.matched_segment:
            _out(f"  segment: {verdict.matched_segment}")
        if verdict.approvers:
            _out(f"  approvers: {', '.join(verdict.approvers)}")
        _out(f"  policy: {compiled.pack_id} {compiled.version} sha256:{compiled.digest}")
    return EXIT_CODES.get(verdict.decision, 4)


def _evaluate_bundle(args, request: ActionRequest) -> int:
    """Decide from a signed bundle: only once it verifies and has not expired; otherwise block (exit 4)."""
    from cavra_engine.agents.bundle import BundleError, load_verified, offline_verdict

    trust = args.trust_root or os.environ.get("CAVRA_TRUST_ROOT")
    try:
        verified = load_verified(Path(args.bundle), Path(trust) if trust else None)
    except BundleError as exc:
        _err(f"cavra evaluate: block: the bundle is not usable ({exc})")
        return EXIT_CODES["block"]
    body = {"action": request.action, "target": request.target, "repository": request.repository,
            "environment": request.environment, "mcp": request.mcp, "context": request.context or {}}  # fmt: skip
    if request.git:
        body.update({k: v for k, v in request.git.items() if v is not None})
    if request.network:
        body["method"] = request.network.get("method")
    if request.repo_root:
        body["context"]["repo_root"] = request.repo_root
    answer = offline_verdict(verified, body)
    if args.json:
        _out(json.dumps(answer, indent=2, sort_keys=True))
    else:
        policy = answer["policy"]
        _out(f"{answer['decision']}  rule={answer['rule_id'] or '-'}  severity={answer['severity']}")
        _out(f"  reason: {answer['reason']}")
        _out(
            f"  policy: {policy['pack']} {policy['version']} sha256:{policy['digest']} ({policy['mode']}, signed bundle)"
        )
    return EXIT_CODES.get(answer["decision"], 4)
