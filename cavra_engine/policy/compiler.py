"""Compiling a loaded pack: extends resolved, rules normalised, canonical JSON and its SHA-256 digest."""

from __future__ import annotations

import hashlib
import json
from fnmatch import fnmatchcase

from .errors import PolicyError
from .loader import Pack
from .pack_checks import as_list, format_path, rule_actions
from .schema import ACTIONS
from .vocabulary import DEFAULT_SEVERITY
from .vocabulary import VERDICT_RANK as RANK

COMPILED_FORMAT = "cavra.compiled/v1"
DEFAULT_KEYS = ACTIONS + ("unparseable_command",)


def canonical_json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _strs(value) -> list[str]:
    return [str(item) for item in as_list(value)]


def _default_entry(value) -> dict:
    if isinstance(value, str):
        value = {"effect": value}
    effect = value["effect"]
    return {
        "effect": effect,
        "severity": value.get("severity") or DEFAULT_SEVERITY[effect],
        "reason": value.get("reason") or f"no rule matched; pack default is {effect}",
        "approvers": _strs(value.get("approvers")),
    }


def _command_matcher(matcher: dict) -> dict:
    out: dict = {}
    for key in ("program", "flags", "any_flags", "without_flags", "args", "path_args", "text", "regex"):
        if key in matcher:
            out[key] = _strs(matcher[key])
    if "subcommand" in matcher:
        out["subcommand"] = [str(words).split() for words in as_list(matcher["subcommand"])]
    if matcher.get("outside_repo"):
        out["outside_repo"] = True
    return out


def _alternative(match: dict) -> dict:
    out: dict = {}
    for key in ("paths", "path_regex", "exclude_paths"):
        if key in match:
            out[key] = _strs(match[key])
    if match.get("outside_repo"):
        out["outside_repo"] = True
    if match.get("ignore_case"):
        out["ignore_case"] = True
    for key in ("commands", "exclude_commands"):
        if key in match:
            out[key] = [_command_matcher(m) for m in as_list(match[key])]
    if "pipelines" in match:
        out["pipelines"] = [[_command_matcher(m) for m in pipeline] for pipeline in match["pipelines"]]
    if "git" in match:
        gits = []
        for matcher in as_list(match["git"]):
            git: dict = {}
            if "operation" in matcher:
                git["operation"] = _strs(matcher["operation"])
            if "force" in matcher:
                git["force"] = bool(matcher["force"])
            for key in ("branch", "remote", "tag"):
                if key in matcher:
                    git[key] = _strs(matcher[key])
            gits.append(git)
        out["git"] = gits
    if "mcp" in match:
        mcps = []
        for matcher in as_list(match["mcp"]):
            mcp: dict = {}
            for key in ("server", "tool"):
                if key in matcher:
                    mcp[key] = [item.lower() for item in _strs(matcher[key])]
            if "capability" in matcher:
                mcp["capability"] = _strs(matcher["capability"])
            if "arguments" in matcher:
                mcp["arguments"] = {name: _strs(value) for name, value in matcher["arguments"].items()}
            mcps.append(mcp)
        out["mcp"] = mcps
    if "network" in match:
        nets = []
        for matcher in as_list(match["network"]):
            net: dict = {}
            for key in ("host", "url", "url_regex"):
                if key in matcher:
                    net[key] = _strs(matcher[key])
            if "host" in net:
                net["host"] = [host.lower().rstrip(".") for host in net["host"]]
            if "method" in matcher:
                net["method"] = [m.upper() for m in _strs(matcher["method"])]
            if "scheme" in matcher:
                net["scheme"] = [s.lower() for s in _strs(matcher["scheme"])]
            if "port" in matcher:
                net["port"] = [int(p) for p in as_list(matcher["port"])]
            nets.append(net)
        out["network"] = nets
    return out


def _rule(rule: dict, pack_id: str) -> dict:
    effect = rule["effect"]
    out = {
        "id": rule["id"],
        "actions": rule_actions(rule),
        "effect": effect,
        "severity": rule.get("severity") or DEFAULT_SEVERITY[effect],
        "reason": rule.get("reason") or f"matched rule {rule['id']}",
        "approvers": _strs(rule.get("approvers")),
        "compliance": {
            fw: sorted({str(c) for c in as_list(ids)}) for fw, ids in (rule.get("compliance") or {}).items()
        },
        "pack": pack_id,
        "match": None,
        "when": None,
    }
    if rule.get("tags"):
        out["tags"] = _strs(rule["tags"])
    if "match" in rule and rule["match"] is not None:
        alternatives = [_alternative(m) for m in as_list(rule["match"])]
        # an empty mapping means "everything", same as no match at all
        out["match"] = None if any(not alt for alt in alternatives) else alternatives
    when = rule.get("when")
    if when:
        compiled_when: dict = {}
        for key in ("repository", "environment", "agent_profile"):
            if key in when:
                compiled_when[key] = _strs(when[key])
        if when.get("context"):
            compiled_when["context"] = {name: _strs(value) for name, value in when["context"].items()}
        out["when"] = compiled_when or None
    return out


def _ordered_packs(pack: Pack) -> list[Pack]:
    seen: set[int] = set()
    order: list[Pack] = []

    def visit(current: Pack) -> None:
        for parent in current.parents:
            visit(parent)
        if id(current) not in seen and current.id not in {p.id for p in order}:
            seen.add(id(current))
            order.append(current)

    visit(pack)
    return order


def _error(pack: Pack, path: tuple, message: str) -> dict:
    return {"file": pack.source, "line": pack.line_of(path), "path": format_path(path), "message": message}


def _resolve_defaults(pack: Pack, cache: dict) -> dict:
    if pack.id in cache:
        return cache[pack.id]
    inherited: dict = {}
    for parent in pack.parents:
        for key, entry in _resolve_defaults(parent, cache).items():
            if key not in inherited or RANK[entry["effect"]] > RANK[inherited[key]["effect"]]:
                inherited[key] = entry
    own = pack.data.get("defaults") or {}
    result: dict = {}
    for key in DEFAULT_KEYS:
        if key in own:
            result[key] = _default_entry(own[key])
        elif "any" in own and key != "unparseable_command":
            result[key] = _default_entry(own["any"])
        elif key in inherited:
            result[key] = inherited[key]
        elif key == "unparseable_command":
            result[key] = _default_entry(
                {
                    "effect": "require_approval",
                    "reason": "the command could not be parsed; a reviewer must look at it",
                }
            )
        else:
            result[key] = _default_entry("allow")
    cache[pack.id] = result
    return result


def _compile_v2(pack: Pack) -> dict:
    errors: list[dict] = []
    merged: list[dict] = []
    position: dict[str, int] = {}
    origin: dict[str, Pack] = {}
    for current in _ordered_packs(pack):
        for index, rule in enumerate(current.data.get("rules") or []):
            rule_id = rule["id"]
            enabled = rule.get("enabled", True)
            if rule.get("override"):
                if rule_id not in position:
                    errors.append(
                        _error(
                            current, ("rules", index, "override"), f"override: no inherited rule {rule_id!r}"
                        )
                    )
                    continue
                merged[position[rule_id]] = _rule(rule, current.id) if enabled else None
                origin[rule_id] = current
                continue
            if rule_id in position:
                first = origin[rule_id]
                errors.append(
                    _error(
                        current,
                        ("rules", index, "id"),
                        f"rule id {rule_id!r} is already defined by pack {first.id!r} ({first.source}); "
                        "use a new id or 'override: true'",
                    )
                )
                continue
            if not enabled:
                continue
            position[rule_id] = len(merged)
            origin[rule_id] = current
            merged.append(_rule(rule, current.id))
    rules = [rule for rule in merged if rule is not None]
    by_id = {rule["id"]: rule for rule in rules}
    for current in _ordered_packs(pack):
        for index, mapping in enumerate(current.data.get("mappings") or []):
            for p_index, pattern in enumerate(as_list(mapping["rules"])):
                hits = [rule_id for rule_id in by_id if fnmatchcase(rule_id, pattern)]
                if not hits:
                    where = ("mappings", index, "rules") + (
                        (p_index,) if isinstance(mapping["rules"], list) else ()
                    )
                    errors.append(_error(current, where, f"{pattern!r} matches no rule of the resolved pack"))
                for rule_id in hits:
                    compliance = by_id[rule_id]["compliance"]
                    for framework, ids in mapping["compliance"].items():
                        compliance[framework] = sorted(
                            set(compliance.get(framework, [])) | {str(c) for c in as_list(ids)}
                        )
    if errors:
        raise PolicyError(errors)
    return {
        "format": COMPILED_FORMAT,
        "engine": "v2",
        "pack": _pack_meta(pack),
        "extends": [p.id for p in _ordered_packs(pack)[:-1]],
        "defaults": _resolve_defaults(pack, {}),
        "rules": rules,
        "tests": _tests(pack),
    }


def _pack_meta(pack: Pack) -> dict:
    meta = {
        "id": pack.id,
        "title": pack.title,
        "version": pack.version,
        "description": pack.description,
        "readme": pack.readme,
    }
    labels = (pack.data.get("metadata") or {}).get("labels") if isinstance(pack.data, dict) else None
    if isinstance(labels, dict) and labels.get("scope") == "add-on":
        # Part of the digest: whether a pack may stand alone is a property of the signed version.
        meta["add_on"] = True
    return meta


def _tests(pack: Pack) -> list[dict]:
    out = []
    for index, test in enumerate(pack.data.get("tests") or []):
        if not isinstance(test, dict):
            continue
        case = {key: value for key, value in test.items()}
        case.setdefault("name", f"tests[{index}]")
        case["index"] = index
        case["line"] = pack.line_of(("tests", index))
        case.pop("line")  # lines would make the digest depend on formatting
        out.append(case)
    return out


def _compile_v1(pack: Pack) -> dict:
    sections: dict = {
        "filesystem": {"block_read": [], "block_write": [], "require_approval_write": []},
        "commands": {"block": [], "allow": [], "require_approval": []},
        "git": {},
        "mcp": {"allowed_servers": [], "blocked_servers": []},
    }
    block_unknown = True
    for current in _ordered_packs(pack):
        data = current.data
        for section in ("filesystem", "commands"):
            for key, items in (data.get(section) or {}).items():
                # setdefault: the v1 outcome lists appear only when used, so older packs keep their digest
                sections[section].setdefault(key, []).extend(str(item) for item in items or [])
        mcp = data.get("mcp") or {}
        for key in ("allowed_servers", "blocked_servers"):
            sections["mcp"][key].extend(str(item) for item in mcp.get(key) or [])
        if "block_unknown_servers" in mcp:
            block_unknown = bool(mcp["block_unknown_servers"])
        for key, value in (data.get("git") or {}).items():
            sections["git"][key] = value
    sections["mcp"]["block_unknown_servers"] = block_unknown
    return {
        "format": COMPILED_FORMAT,
        "engine": "v1",
        "pack": _pack_meta(pack),
        "extends": [p.id for p in _ordered_packs(pack)[:-1]],
        "v1": sections,
        "defaults": {},
        "rules": [],
        "tests": _tests(pack),
    }


def compile_document(pack: Pack) -> dict:
    body = _compile_v1(pack) if pack.engine == "v1" else _compile_v2(pack)
    body = json.loads(canonical_json(body))  # plain JSON types only, so from_json round-trips exactly
    return body


def digest_of(body: dict) -> str:
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()
