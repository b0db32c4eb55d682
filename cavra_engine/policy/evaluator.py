"""Deciding one action against a compiled policy: matchers, the rule index and the combining algorithm."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .aliases import canonical_flag, canonical_flags
from .globs import compile_path_globs, compile_text_globs, is_literal
from .normalise import (
    GitOp,
    git_ops_for_request,
    git_ops_from_segment,
    is_outside_repo,
    normalise_path,
    normalise_url,
    parse_mcp_target,
)
from .schema import ACTIONS
from .shell import Segment, lenient_parses, parse_command
from .vocabulary import VERDICT_RANK as RANK

DEFAULT_TEST_ROOT = "/repo"


@dataclass
class ActionRequest:
    action: str
    target: str
    repository: str | None = None
    environment: str | None = None
    agent_profile: str | None = None
    repo_root: str | None = None
    git: dict | None = None
    mcp: dict | None = None
    network: dict | None = None
    context: dict | None = None


@dataclass
class Verdict:
    decision: str
    rule_id: str | None
    severity: str
    reason: str
    approvers: list[str] = field(default_factory=list)
    matched_segment: str | None = None
    compliance: dict = field(default_factory=dict)
    normalised_target: str = ""
    policy_digest: str = ""
    pack_id: str = ""

    def to_dict(self) -> dict:
        return {
            "decision": self.decision,
            "rule_id": self.rule_id,
            "severity": self.severity,
            "reason": self.reason,
            "approvers": list(self.approvers),
            "matched_segment": self.matched_segment,
            "compliance": {key: list(value) for key, value in self.compliance.items()},
            "normalised_target": self.normalised_target,
            "policy_digest": self.policy_digest,
            "pack_id": self.pack_id,
        }


# -- matchers -----------------------------------------------------------------------------------------


def _text_re(patterns: list[str] | None, *, ignore_case: bool = False) -> re.Pattern[str] | None:
    return compile_text_globs(patterns, ignore_case=ignore_case) if patterns else None


class _Request:
    """Per-evaluation facts shared by the matchers."""

    __slots__ = ("request", "repo_root", "cwd", "current_branch", "path_cache")

    def __init__(self, request: ActionRequest) -> None:
        self.request = request
        context = request.context if isinstance(request.context, dict) else {}
        self.repo_root = request.repo_root or _str(context.get("repo_root"))
        self.cwd = _str(context.get("cwd"))
        self.current_branch = _str(context.get("branch") or context.get("current_branch"))
        if isinstance(request.git, dict) and request.git.get("branch"):
            self.current_branch = self.current_branch or _str(request.git.get("branch"))
        self.path_cache: dict[str, str] = {}

    def path(self, raw: str) -> str:
        cached = self.path_cache.get(raw)
        if cached is None:
            cached = normalise_path(raw, repo_root=self.repo_root, cwd=self.cwd)
            self.path_cache[raw] = cached
        return cached


def _str(value) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


class CommandMatcher:
    __slots__ = ("programs", "program_re", "subcommands", "flags", "any_flags", "without_flags", "args_re", "path_re",
                 "outside_repo", "text_re", "regexes", "literal_programs")  # fmt: skip

    def __init__(self, spec: dict) -> None:
        self.programs = spec.get("program")
        self.program_re = _text_re(self.programs)
        self.literal_programs = (
            frozenset(self.programs) if self.programs and all(is_literal(p) for p in self.programs) else None
        )
        self.subcommands = [
            [(w, _text_re([w])) for w in words] for words in spec.get("subcommand", [])
        ] or None
        self.flags = spec.get("flags")
        self.any_flags = spec.get("any_flags")
        self.without_flags = spec.get("without_flags")
        self.args_re = _text_re(spec.get("args"))
        self.path_re = compile_path_globs(spec.get("path_args") or [])
        self.outside_repo = bool(spec.get("outside_repo"))
        self.text_re = _text_re(spec.get("text"))
        self.regexes = [re.compile(r) for r in spec.get("regex", [])] or None

    def _has_flag(self, segment: Segment, flag: str, strict: bool) -> bool:
        if segment.program is None:
            if strict:
                return False
            # unknown program: accept the flag under any program of this matcher's alias tables
            for program in self.programs or ():
                if canonical_flag(program, flag) in canonical_flags(program, segment.raw_flags):
                    return True
            return flag in segment.raw_flags
        return canonical_flag(segment.program, flag) in segment.flags

    def program_may_match(self, program: str | None) -> bool:
        if self.program_re is None or program is None:
            return True
        return self.program_re.match(program) is not None

    def matches(self, segment: Segment, request: _Request, pessimistic: bool) -> bool:
        program = segment.program
        if self.program_re is not None:
            if program is None:
                if not pessimistic:
                    return False
            elif not self.program_re.match(program):
                return False
        if self.subcommands is not None and not self._subcommand(segment, pessimistic):
            return False
        if self.flags is not None and not all(
            self._has_flag(segment, f, not pessimistic) for f in self.flags
        ):
            return False
        if self.any_flags is not None and not any(
            self._has_flag(segment, f, not pessimistic) for f in self.any_flags
        ):
            return False
        if self.without_flags is not None and any(
            self._has_flag(segment, f, True) for f in self.without_flags
        ):
            return False
        if self.args_re is not None and not self._args(segment, pessimistic):
            return False
        if self.path_re is not None or self.outside_repo:
            if not self._paths(segment, request, pessimistic):
                return False
        if self.text_re is not None and not self.text_re.match(segment.text):
            return False
        if self.regexes is not None and not any(r.search(segment.text) for r in self.regexes):
            return False
        return True

    def _subcommand(self, segment: Segment, pessimistic: bool) -> bool:
        positional = segment.positional
        for words in self.subcommands:
            if len(positional) < len(words):
                continue
            ok = True
            for (_, word_re), word in zip(words, positional, strict=False):
                if word.unknown:
                    if not pessimistic:
                        ok = False
                        break
                    continue
                if not word_re.match(word.value):
                    ok = False
                    break
            if ok:
                return True
        return False

    def _args(self, segment: Segment, pessimistic: bool) -> bool:
        if pessimistic and segment.unknown_args:
            return True
        for word in segment.positional:
            if word.unknown:
                if pessimistic:
                    return True
                continue
            if self.args_re.match(word.value):
                return True
        return False

    def _paths(self, segment: Segment, request: _Request, pessimistic: bool) -> bool:
        if pessimistic and segment.unknown_args:
            return True
        for word in segment.positional + segment.redirects:
            if word.unknown:
                if pessimistic:
                    return True
                continue
            value = word.value
            if "=" in value and not value.startswith(("/", ".", "~")):
                value = value.split("=", 1)[1]  # dd of=/dev/sda, --file=x
            if not value:
                continue
            path = request.path(value)
            if self.path_re is not None and not self.path_re.match(path):
                continue
            if self.outside_repo and not is_outside_repo(path):
                continue
            return True
        return False


class GitMatcher:
    __slots__ = ("operations", "force", "branch_re", "remote_re", "tag_re")

    def __init__(self, spec: dict) -> None:
        self.operations = frozenset(spec["operation"]) if "operation" in spec else None
        self.force = spec.get("force")
        self.branch_re = _text_re(spec.get("branch"))
        self.remote_re = _text_re(spec.get("remote"))
        self.tag_re = _text_re(spec.get("tag"))

    def matches_op(self, op: GitOp, pessimistic: bool) -> bool:
        if self.operations is not None and op.operation not in self.operations:
            return False
        if self.force is not None and op.force != self.force:
            return False
        if self.branch_re is not None:
            if op.branch is None:
                if not (pessimistic and op.branch_unknown):
                    return False
            elif not self.branch_re.match(op.branch):
                return False
        if self.remote_re is not None:
            if op.remote is None:
                # Only operations that talk to a remote can have an unknown one; `git tag -d` is local.
                if not (pessimistic and op.operation in ("push", "fetch", "pull")):
                    return False
            elif not self.remote_re.match(op.remote):
                return False
        if self.tag_re is not None:
            if op.tag is None:
                if not (pessimistic and op.operation in ("tag", "tag_delete")):
                    return False
            elif not self.tag_re.match(op.tag):
                return False
        return True


class McpMatcher:
    __slots__ = ("server_re", "tool_re", "capabilities", "arguments")

    def __init__(self, spec: dict) -> None:
        self.server_re = _text_re(spec.get("server"), ignore_case=True)
        self.tool_re = _text_re(spec.get("tool"), ignore_case=True)
        self.capabilities = frozenset(spec["capability"]) if "capability" in spec else None
        self.arguments = {
            name: _text_re(globs) for name, globs in (spec.get("arguments") or {}).items()
        } or None

    def matches(self, call: tuple) -> bool:
        server, tool, capabilities, arguments = call
        if self.server_re is not None and not self.server_re.match(server):
            return False
        if self.tool_re is not None and not self.tool_re.match(tool):
            return False
        if self.capabilities is not None and not (self.capabilities & capabilities):
            return False
        if self.arguments is not None:
            for name, pattern in self.arguments.items():
                if name not in arguments or not pattern.match(_argument_text(arguments[name])):
                    return False
        return True


def _argument_text(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class NetworkMatcher:
    __slots__ = ("host_re", "url_re", "url_regexes", "methods", "schemes", "ports")

    def __init__(self, spec: dict) -> None:
        self.host_re = _text_re(spec.get("host"), ignore_case=True)
        self.url_re = _text_re(spec.get("url"))
        self.url_regexes = [re.compile(r) for r in spec.get("url_regex", [])] or None
        self.methods = _text_re(spec.get("method"), ignore_case=True)
        self.schemes = frozenset(spec["scheme"]) if "scheme" in spec else None
        self.ports = frozenset(spec["port"]) if "port" in spec else None

    def matches(self, url, method: str | None, pessimistic: bool) -> bool:
        if self.host_re is not None and not self.host_re.match(url.host):
            return False
        if self.url_re is not None and not self.url_re.match(url.url):
            return False
        if self.url_regexes is not None and not any(r.search(url.url) for r in self.url_regexes):
            return False
        if self.methods is not None:
            if method is None:
                if not pessimistic:
                    return False
            elif not self.methods.match(method):
                return False
        if self.schemes is not None and url.scheme not in self.schemes:
            return False
        if self.ports is not None and url.port not in self.ports:
            return False
        return True


class Alternative:
    __slots__ = ("path_re", "path_regexes", "outside_repo", "exclude_re", "commands", "pipelines",
                 "exclude_commands", "git", "mcp", "network", "spec", "_by_program")  # fmt: skip

    def __init__(self, spec: dict) -> None:
        self.spec = spec
        ignore_case = bool(spec.get("ignore_case"))
        flags = re.IGNORECASE if ignore_case else 0
        self.path_re = compile_path_globs(spec.get("paths") or [], ignore_case=ignore_case)
        self.path_regexes = [re.compile(r, flags) for r in spec.get("path_regex", [])] or None
        self.outside_repo = bool(spec.get("outside_repo"))
        self.exclude_re = compile_path_globs(spec.get("exclude_paths") or [], ignore_case=ignore_case)
        self.commands = [CommandMatcher(m) for m in spec.get("commands", [])] or None
        self.pipelines = [[CommandMatcher(m) for m in p] for p in spec.get("pipelines", [])] or None
        self.exclude_commands = [CommandMatcher(m) for m in spec.get("exclude_commands", [])] or None
        self.git = [GitMatcher(m) for m in spec.get("git", [])] or None
        self.mcp = [McpMatcher(m) for m in spec.get("mcp", [])] or None
        self.network = [NetworkMatcher(m) for m in spec.get("network", [])] or None
        self._by_program: dict = {}

    def _for_program(self, program: str | None) -> tuple[list, list]:
        """The command matchers and pipelines that could match a segment running `program`."""
        cached = self._by_program.get(program)
        if cached is None:
            commands = [m for m in self.commands or () if m.program_may_match(program)]
            pipelines = [p for p in self.pipelines or () if p[-1].program_may_match(program)]
            cached = (commands, pipelines)
            if len(self._by_program) < 4096:
                self._by_program[program] = cached
        return cached

    @property
    def has_path(self) -> bool:
        return self.path_re is not None or self.path_regexes is not None or self.outside_repo

    def match_path(self, path: str) -> bool:
        if not self.has_path:
            return False
        hit = (
            (self.path_re is not None and self.path_re.match(path) is not None)
            or (self.path_regexes is not None and any(r.search(path) for r in self.path_regexes))
            or (self.outside_repo and is_outside_repo(path))
        )
        if hit and self.exclude_re is not None and self.exclude_re.match(path):
            return False
        return hit

    def match_segment(
        self, segment: Segment, segments: list[Segment], request: _Request, pessimistic: bool
    ) -> bool:
        hit = False
        commands, pipelines = self._for_program(segment.program)
        for matcher in commands:
            if matcher.matches(segment, request, pessimistic):
                hit = True
                break
        if not hit and pipelines:
            hit = any(_pipeline(p, segment, segments, request, pessimistic) for p in pipelines)
        if not hit and self.git is not None and segment.program == "git":
            ops = git_ops_from_segment(segment, current_branch=request.current_branch)
            hit = any(m.matches_op(op, pessimistic) for m in self.git for op in ops)
        if hit and self.exclude_commands is not None:
            # an exclusion only lifts a rule when it certainly applies
            if any(m.matches(segment, request, False) for m in self.exclude_commands):
                return False
        return hit


def _pipeline(
    matchers: list[CommandMatcher], segment: Segment, segments: list[Segment], request, pessimistic
) -> bool:
    if not matchers[-1].matches(segment, request, pessimistic):
        return False
    wanted = len(matchers) - 2
    if wanted < 0:
        return True
    for earlier in reversed(segments):
        if earlier.order >= segment.order or earlier.pipeline != segment.pipeline:
            continue
        if matchers[wanted].matches(earlier, request, pessimistic):
            wanted -= 1
            if wanted < 0:
                return True
    return False


class RuntimeRule:
    __slots__ = ("index", "id", "actions", "effect", "rank", "severity", "reason", "approvers", "compliance",
                 "_alternatives", "spec", "when", "pessimistic")  # fmt: skip

    def __init__(self, index: int, spec: dict) -> None:
        self.index = index
        self.id = spec["id"]
        self.actions = frozenset(spec["actions"])
        self.effect = spec["effect"]
        self.rank = RANK[self.effect]
        self.pessimistic = self.effect != "allow"
        self.severity = spec["severity"]
        self.reason = spec["reason"]
        self.approvers = spec.get("approvers") or []
        self.compliance = spec.get("compliance") or {}
        self.spec = spec
        self._alternatives: list[Alternative] | None = None  # built on first use: most rules never run
        when = spec.get("when")
        self.when = None
        if when:
            self.when = []
            for key in ("repository", "environment", "agent_profile"):
                if key in when:
                    self.when.append(
                        (key, when[key], _text_re([g for g in when[key] if g != "<unset>"], ignore_case=True))
                    )
            for name, globs in (when.get("context") or {}).items():
                self.when.append(
                    (
                        "context:" + name,
                        globs,
                        _text_re([g for g in globs if g != "<unset>"], ignore_case=True),
                    )
                )

    @property
    def alternatives(self) -> list[Alternative] | None:
        if self._alternatives is None:
            if not self.spec.get("match"):
                return None
            self._alternatives = [Alternative(a) for a in self.spec["match"]]
        return self._alternatives

    def when_holds(self, request: ActionRequest) -> bool:
        if self.when is None:
            return True
        context = request.context if isinstance(request.context, dict) else {}
        for key, globs, pattern in self.when:
            if key.startswith("context:"):
                value = context.get(key[8:])
            else:
                value = getattr(request, key)
            if value is None or value == "":
                if "<unset>" not in globs:
                    return False
                continue
            if pattern is None or not pattern.match(_argument_text(value)):
                return False
        return True


# -- the index ----------------------------------------------------------------------------------------


def _path_keys(pattern: str) -> tuple[str, str] | None:
    """("name", x) or ("ext", x) an indexable path glob is keyed by, else None."""
    if pattern.endswith("/") or pattern.endswith("**"):
        return None
    last = pattern.rsplit("/", 1)[-1]
    if is_literal(last):
        return ("name", last.lower())
    if last.startswith("*.") and is_literal(last[2:]) and last[2:]:
        return ("ext", last[2:].rsplit(".", 1)[-1].lower())
    return None


class Index:
    """Candidate rules per action, narrowed by file name/extension or program name."""

    def __init__(self, rules: list[RuntimeRule]) -> None:
        self.by_action: dict[str, list[RuntimeRule]] = {action: [] for action in ACTIONS}
        path_generic: list[RuntimeRule] = []
        by_name: dict[str, list[RuntimeRule]] = {}
        by_ext: dict[str, list[RuntimeRule]] = {}
        cmd_generic: list[RuntimeRule] = []
        by_program: dict[str, list[RuntimeRule]] = {}
        self.glob_program_rules: list[tuple[re.Pattern[str], RuntimeRule]] = []
        for rule in rules:
            for action in rule.actions:
                self.by_action[action].append(rule)
            if "read_file" in rule.actions or "write_file" in rule.actions:
                keys = self._path_rule_keys(rule)
                if keys is None:
                    path_generic.append(rule)
                else:
                    for kind, key in keys:
                        (by_name if kind == "name" else by_ext).setdefault(key, []).append(rule)
            if "execute_command" in rule.actions:
                programs = self._command_rule_programs(rule)
                if programs is None:
                    cmd_generic.append(rule)
                else:
                    literals, globs = programs
                    for program in literals:
                        by_program.setdefault(program, []).append(rule)
                    if globs:
                        self.glob_program_rules.append((compile_text_globs(sorted(globs)), rule))
        path_generic.sort(key=_order)
        cmd_generic.sort(key=_order)
        self.path_generic = path_generic
        self.by_name = {k: _merge(v, path_generic) for k, v in by_name.items()}
        self.by_ext = {k: _merge(v, path_generic) for k, v in by_ext.items()}
        self.cmd_generic = cmd_generic
        self.by_program = by_program
        self._program_cache: dict[str, list[RuntimeRule]] = {}
        self.all_commands = [rule for rule in rules if "execute_command" in rule.actions]
        self.all_commands.sort(key=_order)
        for action in self.by_action:
            self.by_action[action].sort(key=_order)

    @staticmethod
    def _path_rule_keys(rule: RuntimeRule) -> set[tuple[str, str]] | None:
        if not rule.spec.get("match"):
            return None
        keys: set[tuple[str, str]] = set()
        for spec in rule.spec["match"]:
            if (
                spec.get("path_regex")
                or spec.get("outside_repo")
                or spec.get("ignore_case")
                or not spec.get("paths")
            ):
                return None
            for pattern in spec["paths"]:
                if "{" in pattern:
                    return None
                key = _path_keys(pattern)
                if key is None:
                    return None
                keys.add(key)
        return keys

    @staticmethod
    def _command_rule_programs(rule: RuntimeRule) -> tuple[set[str], set[str]] | None:
        """(literal program names, program globs) a command rule is keyed by, or None if any program."""
        if not rule.spec.get("match"):
            return None
        literals: set[str] = set()
        globs: set[str] = set()
        for spec in rule.spec["match"]:
            if not (spec.get("commands") or spec.get("pipelines") or spec.get("git")):
                return None
            matchers = list(spec.get("commands", [])) + [
                pipeline[-1] for pipeline in spec.get("pipelines", [])
            ]
            for matcher in matchers:
                names = matcher.get("program")
                if not names:
                    return None
                for name in names:
                    (literals if is_literal(name) else globs).add(name)
            if spec.get("git"):
                literals.add("git")
        return literals, globs

    def path_candidates(self, action: str, path: str) -> list[RuntimeRule]:
        name = path.rsplit("/", 1)[-1].lower()
        named = self.by_name.get(name)
        ext = name.rsplit(".", 1)[-1] if "." in name else None
        by_ext = self.by_ext.get(ext) if ext is not None else None
        if named is not None and by_ext is not None:
            merged = _merge(named, by_ext)
        else:
            merged = named or by_ext or self.path_generic
        return [rule for rule in merged if action in rule.actions]

    def command_candidates(self, program: str | None) -> list[RuntimeRule]:
        if program is None:
            return self.all_commands
        cached = self._program_cache.get(program)
        if cached is None:
            rules = list(self.by_program.get(program, ())) + self.cmd_generic
            rules += [rule for pattern, rule in self.glob_program_rules if pattern.match(program)]
            cached = _merge(rules, [])
            if len(self._program_cache) < 4096:
                self._program_cache[program] = cached
        return cached


def _order(rule: RuntimeRule) -> tuple[int, int]:
    return (-rule.rank, rule.index)


def _merge(first: list[RuntimeRule], second: list[RuntimeRule]) -> list[RuntimeRule]:
    seen: dict[int, RuntimeRule] = {rule.index: rule for rule in first}
    for rule in second:
        seen.setdefault(rule.index, rule)
    return sorted(seen.values(), key=_order)


# -- evaluation ----------------------------------------------------------------------------------------


class Runtime:
    def __init__(self, document: dict, digest: str) -> None:
        self.digest = digest
        self.pack_id = document["pack"]["id"]
        self.defaults = document.get("defaults") or {}
        self.rules = [RuntimeRule(index, spec) for index, spec in enumerate(document.get("rules") or [])]
        self.index = Index(self.rules)

    def verdict_for_rule(self, rule: RuntimeRule, normalised: str, segment: str | None) -> Verdict:
        return Verdict(
            decision=rule.effect,
            rule_id=rule.id,
            severity=rule.severity,
            reason=rule.reason,
            approvers=list(rule.approvers),
            matched_segment=segment,
            compliance=rule.compliance,
            normalised_target=normalised,
            policy_digest=self.digest,
            pack_id=self.pack_id,
        )

    def default_verdict(
        self, key: str, normalised: str, rule_id: str | None = None, segment: str | None = None
    ) -> Verdict:
        entry = self.defaults.get(key) or {
            "effect": "allow",
            "severity": "low",
            "reason": "no rule matched",
            "approvers": [],
        }
        return Verdict(
            decision=entry["effect"],
            rule_id=rule_id,
            severity=entry["severity"],
            reason=entry["reason"],
            approvers=list(entry.get("approvers") or []),
            matched_segment=segment,
            compliance={},
            normalised_target=normalised,
            policy_digest=self.digest,
            pack_id=self.pack_id,
        )

    def evaluate(self, request: ActionRequest) -> Verdict:
        action = request.action
        facts = _Request(request)
        if action in ("read_file", "write_file"):
            path = facts.path(request.target)
            for rule in self.index.path_candidates(action, path):
                if rule.when is not None and not rule.when_holds(request):
                    continue
                if rule.alternatives is None or any(alt.match_path(path) for alt in rule.alternatives):
                    return self.verdict_for_rule(rule, path, None)
            return self.default_verdict(action, path)
        if action == "execute_command":
            return self._command(request, facts)
        if action == "git_operation":
            ops = git_ops_for_request(request.target, request.git, request.context)
            shown = "; ".join(op.describe() for op in ops)
            for rule in self.index.by_action[action]:
                if rule.when is not None and not rule.when_holds(request):
                    continue
                if rule.alternatives is None:
                    return self.verdict_for_rule(rule, shown, None)
                for op in ops:
                    if any(
                        m.matches_op(op, rule.pessimistic) for alt in rule.alternatives for m in alt.git or ()
                    ):
                        return self.verdict_for_rule(rule, shown, op.describe())
            return self.default_verdict(action, shown)
        if action == "mcp_tool_call":
            call = parse_mcp_target(request.target, request.mcp)
            shown = f"{call[0]}:{call[1]}"
            for rule in self.index.by_action[action]:
                if rule.when is not None and not rule.when_holds(request):
                    continue
                if rule.alternatives is None or any(
                    m.matches(call) for alt in rule.alternatives for m in alt.mcp or ()
                ):
                    return self.verdict_for_rule(rule, shown, None)
            return self.default_verdict(action, shown)
        if action == "network_request":
            url = normalise_url(request.target)
            method = None
            if isinstance(request.network, dict) and request.network.get("method"):
                method = str(request.network["method"]).upper()
            for rule in self.index.by_action[action]:
                if rule.when is not None and not rule.when_holds(request):
                    continue
                if rule.alternatives is None or any(
                    m.matches(url, method, rule.pessimistic)
                    for alt in rule.alternatives
                    for m in alt.network or ()
                ):
                    return self.verdict_for_rule(rule, url.url, None)
            return self.default_verdict(action, url.url)
        return Verdict(
            decision="block",
            rule_id="engine.invalid_request",
            severity="high",
            reason=f"unknown action type {action!r}; expected one of {', '.join(ACTIONS)}",
            normalised_target=str(request.target)[:200],
            policy_digest=self.digest,
            pack_id=self.pack_id,
        )

    def _command(self, request: ActionRequest, facts: _Request) -> Verdict:
        text = request.target
        parsed = parse_command(text)
        readings = [parsed] if parsed.ok else lenient_parses(text) + [parsed]
        best: tuple | None = None  # (-rank, rule index, segment order, rule, segment)
        normalised_parts: list[str] = []
        for reading in readings:
            segments = reading.segments
            if reading is readings[0]:
                normalised_parts = [segment.text for segment in segments]
            for segment in segments:
                for rule in self.index.command_candidates(segment.program):
                    key = (-rule.rank, rule.index, segment.order)
                    if best is not None and key >= best[:3]:
                        break  # candidates are sorted by (-rank, index): nothing better follows
                    if rule.when is not None and not rule.when_holds(request):
                        continue
                    if rule.alternatives is None or any(
                        alt.match_segment(segment, segments, facts, rule.pessimistic)
                        for alt in rule.alternatives
                    ):
                        best = key + (rule, segment)
                        break
        normalised = " ; ".join(normalised_parts) if parsed.ok else text
        if best is not None:
            verdict = self.verdict_for_rule(best[3], normalised, best[4].text)
        else:
            verdict = self.default_verdict("execute_command", normalised)
        if not parsed.ok and verdict.decision == "allow":
            fallback = self.default_verdict(
                "unparseable_command", normalised, rule_id="engine.unparseable_command"
            )
            fallback.reason = f"{fallback.reason} ({parsed.error})"
            return fallback
        return verdict


def internal_error_verdict(digest: str, pack_id: str, exc: BaseException, target) -> Verdict:
    return Verdict(
        decision="block",
        rule_id="engine.internal_error",
        severity="high",
        reason=f"the policy engine failed on this request and fails closed: {type(exc).__name__}",
        normalised_target=str(target)[:200] if target is not None else "",
        policy_digest=digest,
        pack_id=pack_id,
    )
