"""Shadow replay core: a candidate policy evaluated over recorded decisions, as a before/after matrix."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from .compiled import CompiledPolicy, evaluate
from .evaluator import ActionRequest
from .vocabulary import VERDICT_RANK
from .vocabulary import VERDICTS as _VERDICTS

# Matrix order: least to most restrictive.
VERDICTS = tuple(sorted(_VERDICTS, key=VERDICT_RANK.__getitem__))


def empty_matrix() -> dict:
    return {before: {after: 0 for after in VERDICTS} for before in VERDICTS}


def request_from_record(record: dict) -> ActionRequest:
    """The request a recorded decision was evaluated on.

    `record` holds a Decision's action, target, repository, environment and context. Decisions
    recorded before `context.replay` existed lack the agent profile, the HTTP method and a git
    request without an operation; they are rebuilt from what the row kept.
    """
    context = record.get("context") or {}
    replay = context.get("replay")
    request_context = context.get("request_context") or None
    if replay is not None:
        git = replay.get("git")
        method = replay.get("method")
        profile = replay.get("agent_profile")
    else:
        stored_git = context.get("git")
        git = (
            {
                "operation": stored_git.get("operation"),
                "branch": stored_git.get("branch"),
                "force": bool(stored_git.get("force")),
                "remote": None,
            }
            if stored_git
            else (
                {"operation": None, "branch": None, "force": False, "remote": None}
                if record["action"] == "git_operation"
                else None
            )
        )
        method, profile = None, None
    return ActionRequest(
        action=record["action"],
        target=record["target"],
        repository=record.get("repository") or None,
        environment=record.get("environment") or None,
        agent_profile=profile,
        repo_root=(request_context or {}).get("repo_root"),
        git=git,
        mcp=context.get("mcp"),
        network={"method": method} if method else None,
        context=request_context,
    )


def recorded_policy_verdict(record: dict) -> str:
    """What the policy said at the time: in audit_only mode the answer was allow, the verdict is `would_have`."""
    would_have = (record.get("context") or {}).get("would_have")
    if would_have and would_have.get("decision") in VERDICTS:
        return would_have["decision"]
    return record["decision"]


@dataclass
class ReplayTally:
    """Running totals of a replay; `changed` keeps the first `keep` changed decisions."""

    keep: int = 5000
    total: int = 0
    matrix: dict = field(default_factory=empty_matrix)
    changed_count: int = 0
    changed: list = field(default_factory=list)
    # Evaluation is a pure function of the request, and agents repeat themselves: memoise per replay.
    _verdicts: dict = field(default_factory=dict, repr=False)
    cache_limit: int = 200_000

    def _verdict(self, record: dict, compiled: CompiledPolicy):
        request = request_from_record(record)
        key = json.dumps(
            [
                request.action,
                request.target,
                request.repository,
                request.environment,
                request.agent_profile,
                request.repo_root,
                request.git,
                request.mcp,
                request.network,
                request.context,
            ],
            sort_keys=True,
            default=str,
        )
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = evaluate(compiled, request)
            if len(self._verdicts) < self.cache_limit:
                self._verdicts[key] = verdict
        return verdict

    def add(self, record: dict, compiled: CompiledPolicy) -> dict:
        before = recorded_policy_verdict(record)
        verdict = self._verdict(record, compiled)
        self.total += 1
        if before in self.matrix:
            self.matrix[before][verdict.decision] += 1
        if before != verdict.decision:
            self.changed_count += 1
            if len(self.changed) < self.keep:
                self.changed.append(
                    {
                        "decision_id": record.get("public_id"),
                        "created_at": record.get("created_at"),
                        "action": record["action"],
                        "target": record["target"][:500],
                        "repository": record.get("repository") or "",
                        "environment": record.get("environment") or "",
                        "before": {"decision": before, "rule_id": record.get("rule_id") or None},
                        "after": {
                            "decision": verdict.decision,
                            "rule_id": verdict.rule_id,
                            "reason": verdict.reason,
                        },
                    }
                )
        return {"before": before, "after": verdict.decision, "rule_id": verdict.rule_id}


def replay_records(compiled: CompiledPolicy, records: Iterable[dict], *, keep: int = 5000) -> ReplayTally:
    tally = ReplayTally(keep=keep)
    for record in records:
        tally.add(record, compiled)
    return tally
