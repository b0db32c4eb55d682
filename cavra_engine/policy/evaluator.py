"""Deciding one action against a compiled policy: the rule index and the combining algorithm (matchers in matchers.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .globs import compile_text_globs, is_literal
from .matchers import RuntimeRule, _Request
from .normalise import (
    git_ops_for_request,
    normalise_url,
    parse_mcp_target,
)
from .schema import ACTIONS
from .shell import lenient_parses, parse_command

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
    # A CAVRA v1 outcome finer than `decision` (warn, audit_only, allow_with_attestation); "" = decision.
    outcome: str = ""

    def to_dict(self) -> dict:
        return {
            **({"outcome": self.outcome} if self.outcome and self.outcome != self.decision else {}),
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
