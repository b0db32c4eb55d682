"""Matching one action against one compiled rule: command, git, MCP and network matchers, alternatives."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .aliases import canonical_flag, canonical_flags
from .globs import compile_path_globs, compile_text_globs, is_literal
from .normalise import (
    GitOp,
    git_ops_from_segment,
    is_outside_repo,
    normalise_path,
)
from .shell import Segment
from .vocabulary import VERDICT_RANK as RANK

if TYPE_CHECKING:
    from .evaluator import ActionRequest


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
