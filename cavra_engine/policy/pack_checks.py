"""Checking a parsed pack: JSON Schema errors with lines, semantic checks of v2 rules, and CAVRA v1 checks."""

from __future__ import annotations

from .globs import check_glob, check_regex
from .schema import ACTIONS, policy_schema
from .validate import kind_of as _kind_of
from .validate import schema_errors, validate_value

# which match keys apply to which actions
MATCHER_ACTIONS: dict[str, tuple[str, ...]] = {
    "paths": ("read_file", "write_file"),
    "path_regex": ("read_file", "write_file"),
    "outside_repo": ("read_file", "write_file"),
    "commands": ("execute_command",),
    "pipelines": ("execute_command",),
    "git": ("git_operation", "execute_command"),
    "mcp": ("mcp_tool_call",),
    "network": ("network_request",),
}


def format_path(path: tuple) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


# -- validation -------------------------------------------------------------------------------------


def _schema_errors(data: dict, lines: dict, source: str) -> list[dict]:
    out: list[dict] = []
    seen: set[tuple] = set()
    for path, message in schema_errors(data):
        if (path, message) in seen:
            continue
        seen.add((path, message))
        rule = path[1] if len(path) > 1 and path[0] == "rules" and isinstance(path[1], int) else None
        out.append(
            {
                "file": source,
                "line": _line(lines, path),
                "path": format_path(path),
                "message": message,
                "_rule": rule,
            }
        )
    return out


def _line(lines: dict, path: tuple) -> int | None:
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def as_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def rule_actions(rule: dict) -> list[str]:
    actions = as_list(rule.get("action", rule.get("actions")))
    if "any" in actions:
        return list(ACTIONS)
    out: list[str] = []
    for action in actions:
        if action not in out:
            out.append(action)
    return out


def _semantic_errors(
    data: dict, lines: dict, source: str, skip_rules: set[int] | None = None, *, partial: bool = False
) -> list[dict]:
    errors: list[dict] = []
    skip_rules = skip_rules or set()

    def err(path: tuple, message: str) -> None:
        errors.append(
            {"file": source, "line": _line(lines, path), "path": format_path(path), "message": message}
        )

    def globs(value, path: tuple, *, path_glob: bool) -> None:
        for index, pattern in enumerate(as_list(value)):
            message = check_glob(pattern, path=path_glob)
            if message:
                err(path + ((index,) if isinstance(value, list) else ()), message)

    def regexes(value, path: tuple) -> None:
        for index, pattern in enumerate(as_list(value)):
            message = check_regex(pattern)
            if message:
                err(path + ((index,) if isinstance(value, list) else ()), message)

    def command_matcher(matcher: dict, path: tuple) -> None:
        for key in ("program", "args", "text"):
            if key in matcher:
                globs(matcher[key], path + (key,), path_glob=False)
        if "subcommand" in matcher:
            for index, words in enumerate(as_list(matcher["subcommand"])):
                for word in str(words).split():
                    message = check_glob(word, path=False)
                    if message:
                        err(
                            path
                            + ("subcommand",)
                            + ((index,) if isinstance(matcher["subcommand"], list) else ()),
                            message,
                        )
        if "path_args" in matcher:
            globs(matcher["path_args"], path + ("path_args",), path_glob=True)
        if "regex" in matcher:
            regexes(matcher["regex"], path + ("regex",))

    seen_ids: dict[str, int] = {}
    rules = data.get("rules") if isinstance(data.get("rules"), list) else []
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict):
            continue
        base = ("rules", index)
        rule_id = rule.get("id")
        if isinstance(rule_id, str):
            if rule_id in seen_ids:
                err(base + ("id",), f"duplicate rule id {rule_id!r} (first at rules[{seen_ids[rule_id]}])")
            else:
                seen_ids[rule_id] = index
        if index in skip_rules:
            continue
        actions = rule_actions(rule)
        alternatives = as_list(rule.get("match"))
        for alt_index, match in enumerate(alternatives):
            mpath = base + ("match",) + ((alt_index,) if isinstance(rule.get("match"), list) else ())
            for key in ("paths", "exclude_paths"):
                if key in match:
                    globs(match[key], mpath + (key,), path_glob=True)
            if "path_regex" in match:
                regexes(match["path_regex"], mpath + ("path_regex",))
            for key in ("commands", "exclude_commands"):
                for c_index, matcher in enumerate(as_list(match.get(key))):
                    command_matcher(
                        matcher, mpath + (key,) + ((c_index,) if isinstance(match[key], list) else ())
                    )
            for p_index, pipeline in enumerate(match.get("pipelines") or []):
                for c_index, matcher in enumerate(pipeline):
                    command_matcher(matcher, mpath + ("pipelines", p_index, c_index))
            for g_index, matcher in enumerate(as_list(match.get("git"))):
                gpath = mpath + ("git",) + ((g_index,) if isinstance(match["git"], list) else ())
                for key in ("branch", "remote", "tag"):
                    if key in matcher:
                        globs(matcher[key], gpath + (key,), path_glob=False)
            for m_index, matcher in enumerate(as_list(match.get("mcp"))):
                mp = mpath + ("mcp",) + ((m_index,) if isinstance(match["mcp"], list) else ())
                for key in ("server", "tool"):
                    if key in matcher:
                        globs(matcher[key], mp + (key,), path_glob=False)
                for name, value in (matcher.get("arguments") or {}).items():
                    globs(value, mp + ("arguments", name), path_glob=False)
            for n_index, matcher in enumerate(as_list(match.get("network"))):
                np_ = mpath + ("network",) + ((n_index,) if isinstance(match["network"], list) else ())
                for key in ("host", "url", "method", "scheme"):
                    if key in matcher:
                        globs(matcher[key], np_ + (key,), path_glob=False)
                if "url_regex" in matcher:
                    regexes(matcher["url_regex"], np_ + ("url_regex",))
            positive = [key for key in MATCHER_ACTIONS if key in match]
            if positive or any(key in match for key in ("exclude_paths", "exclude_commands")):
                for action in actions:
                    if not any(action in MATCHER_ACTIONS[key] for key in positive):
                        err(
                            mpath,
                            f"action {action!r} has no applicable matcher here (has: {', '.join(positive) or 'only excludes'}); "
                            "split the rule or add a matcher for it",
                        )
        when = rule.get("when") or {}
        for key in ("repository", "environment", "agent_profile"):
            if key in when:
                globs(when[key], base + ("when", key), path_glob=False)
        for name, value in (when.get("context") or {}).items():
            globs(value, base + ("when", "context", name), path_glob=False)
    if partial:
        return errors
    defaults = data.get("defaults") or {}
    unparseable = defaults.get("unparseable_command")
    if unparseable is not None:
        effect = unparseable if isinstance(unparseable, str) else unparseable.get("effect")
        if effect == "allow":
            err(("defaults", "unparseable_command"), "an unparseable command can never be allowed")
    for index, mapping in enumerate(data.get("mappings") or []):
        globs(mapping.get("rules"), ("mappings", index, "rules"), path_glob=False)
    for index, test in enumerate(data.get("tests") or []):
        if test.get("rule") is not None and not isinstance(test.get("rule"), str):
            err(("tests", index, "rule"), "expected a rule id or null")
    return errors


# -- v1 ---------------------------------------------------------------------------------------------

_V1_KEYS = {
    "": {
        "apiVersion",
        "metadata",
        "inherits",
        "extends",
        "filesystem",
        "commands",
        "git",
        "mcp",
        "tests",
        "version",
        "name",
        "description",
        "network",
    },
    "metadata": {"id", "name", "title", "version", "description", "owner", "labels", "readme", "inherits"},
    "filesystem": {
        "block_read",
        "block_write",
        "require_approval_write",
        "allow_with_attestation_write",
        "warn_write",
        "audit_only_write",
    },
    "commands": {"block", "allow", "require_approval", "allow_with_attestation", "warn", "audit_only"},
    "git": {"protected_branches", "block_direct_push", "block_force_push"},
    "mcp": {
        "block_unknown_servers",
        "allowed_servers",
        "blocked_servers",
        "allowlist_enabled",
        "capabilities",
        "risk_scoring",
    },
}


def _v1_errors(data: dict, lines: dict, source: str) -> list[dict]:
    errors: list[dict] = []

    def err(path: tuple, message: str) -> None:
        errors.append(
            {"file": source, "line": _line(lines, path), "path": format_path(path), "message": message}
        )

    for key in data:
        if key not in _V1_KEYS[""]:
            err((key,), f"unknown key {key!r} in a v1 pack")
    for section in ("metadata", "filesystem", "commands", "git", "mcp"):
        value = data.get(section)
        if value is None:
            continue
        if not isinstance(value, dict):
            err((section,), f"expected a mapping, got {_kind_of(value)}")
            continue
        for key, item in value.items():
            if key not in _V1_KEYS[section]:
                err((section, key), f"unknown key {key!r} in v1 section {section!r}")
                continue
            if section in ("filesystem", "commands") or key in (
                "allowed_servers",
                "blocked_servers",
                "protected_branches",
            ):
                if not isinstance(item, list) or not all(isinstance(entry, str) for entry in item):
                    err((section, key), "expected a list of strings")
            elif key in (
                "block_unknown_servers",
                "allowlist_enabled",
                "block_direct_push",
                "block_force_push",
            ):
                if not isinstance(item, bool):
                    err((section, key), "expected true/false")
    if "tests" in data:
        test_schema = policy_schema()["properties"]["tests"]
        for path, message in validate_value(data["tests"], test_schema, ("tests",)):
            err(path, message)
    return errors
