"""The agent-neutral gate every adapter shares: ask the portal about one proposed action and turn the
answer into allow / deny / ask, waiting for a reviewer when the portal requires approval.

Fail closed: anything short of an explicit allow from the portal (or from a verified, unexpired offline
bundle when the portal is unreachable) is a deny with a reason the agent can show its user."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from .config import AgentConfig
from .portal import PortalAuthError, PortalClient, PortalError, PortalRejected, PortalUnavailable

ALLOW, DENY, ASK = "allow", "deny", "ask"
WAITING_STATES = {"pending"}
APPROVED_STATES = {"approved", "break_glass"}


class ProposedAction:
    """What an agent is about to do, in the decision API's words."""

    # Plain classes, not dataclasses: importing dataclasses costs the hook measurable start-up time.
    __slots__ = ("action", "target", "mcp", "method", "operation", "branch", "force", "remote", "context")

    def __init__(
        self,
        action: str,
        target: str,
        mcp: dict | None = None,
        method: str | None = None,
        operation: str | None = None,
        branch: str | None = None,
        force: bool | None = None,
        remote: str | None = None,
        context: dict | None = None,
    ):
        self.action, self.target, self.mcp, self.method = action, target, mcp, method
        self.operation, self.branch, self.force, self.remote = operation, branch, force, remote
        self.context = context or {}

    def body(self, *, repository: str | None, environment: str | None) -> dict:
        body: dict = {"action": self.action, "target": self.target}
        for name in ("mcp", "method", "operation", "branch", "force", "remote"):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        if repository:
            body["repository"] = repository
        if environment:
            body["environment"] = environment
        if self.context:
            body["context"] = self.context
        return body


class GateAnswer:
    __slots__ = ("verdict", "reason", "decision_id", "rule_id", "approval_id", "approval_url", "offline", "pending",
                 "answer")  # fmt: skip

    def __init__(
        self,
        verdict: str,  # allow | deny | ask
        reason: str,
        decision_id: str | None = None,
        rule_id: str | None = None,
        approval_id: str | None = None,
        approval_url: str | None = None,
        offline: bool = False,
        pending: bool = False,  # denied only because a reviewer has not decided yet
        answer: dict | None = None,  # the portal's last decision answer, as sent (for attestations)
    ):
        self.verdict, self.reason, self.decision_id, self.rule_id = verdict, reason, decision_id, rule_id
        self.approval_id, self.approval_url, self.offline = approval_id, approval_url, offline
        self.pending, self.answer = pending, answer

    def __repr__(self) -> str:
        return f"GateAnswer({self.verdict!r}, {self.reason!r})"


# The builtin SHA-256: hashlib would first initialise OpenSSL, a cost paid on every hook start.
if sys.version_info >= (3, 12):
    from _sha2 import sha256 as _sha256
else:
    from _sha256 import sha256 as _sha256


def action_key(body: dict) -> str:
    """Identifies "the same action" for re-using an approval: everything but the free context."""
    core = {k: v for k, v in body.items() if k not in ("context", "approval_id")}
    return _sha256(json.dumps(core, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class ApprovalMemory:
    """Approvals this machine is waiting on, by action: a retried action picks its approval up again.
    One small JSON file per action under the state directory, written atomically."""

    def __init__(self, directory: Path | None):
        self.directory = directory / "approvals" if directory else None

    def _path(self, key: str) -> Path | None:
        return self.directory / f"{key}.json" if self.directory else None

    def get(self, key: str) -> str | None:
        path = self._path(key)
        try:
            value = json.loads(path.read_text(encoding="utf-8")) if path else None
        except (OSError, ValueError):
            return None
        return value.get("approval_id") if isinstance(value, dict) else None

    def put(self, key: str, approval_id: str) -> None:
        path = self._path(key)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"approval_id": approval_id}), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass  # losing the memory only means the reviewer is asked again

    def forget(self, key: str) -> None:
        path = self._path(key)
        if path is not None:
            try:
                path.unlink()
            except OSError:
                pass


def _describe(answer: dict) -> str:
    parts = [answer.get("reason") or "no reason given"]
    if answer.get("rule_id"):
        parts.append(f"rule {answer['rule_id']}")
    if answer.get("decision_id"):
        parts.append(f"decision {answer['decision_id']}")
    return parts[0] + (f" ({', '.join(parts[1:])})" if len(parts) > 1 else "")


class Gate:
    def __init__(self, config: AgentConfig, client: PortalClient | None = None, *, clock=time.monotonic):
        self.config = config
        self.client = client or PortalClient(config.base_url, config.token, timeout=config.timeout)
        self.memory = ApprovalMemory(config.state_dir)
        self.clock = clock

    def check(self, proposed: ProposedAction) -> GateAnswer:
        body = proposed.body(repository=self.config.repository, environment=self.config.environment)
        key = action_key(body)
        try:
            remembered = self.memory.get(key)
            if remembered:
                answer = self._resume(body, key, remembered)
                if answer is not None:
                    return answer
            return self._ask(body, key)
        except PortalAuthError as exc:
            return GateAnswer(
                DENY, f"CAVRA denied this action: {exc}. Ask an operator for a valid agent token."
            )
        except PortalRejected as exc:
            return GateAnswer(DENY, f"CAVRA denied this action: {exc}.")
        except PortalUnavailable as exc:
            return self._offline(proposed, body, str(exc))
        except PortalError as exc:  # pragma: no cover - every subclass is handled above
            return GateAnswer(DENY, f"CAVRA denied this action: {exc}.")

    # -- online --------------------------------------------------------------------------------------

    def _ask(self, body: dict, key: str) -> GateAnswer:
        answer = self.client.decide(body)
        decision = answer["decision"]
        if decision == "allow":
            return GateAnswer(
                ALLOW,
                f"CAVRA allowed: {_describe(answer)}",
                answer.get("decision_id"),
                answer.get("rule_id"),
                answer=answer,
            )
        if decision == "block":
            return GateAnswer(
                DENY,
                f"CAVRA blocked this action: {_describe(answer)}",
                answer.get("decision_id"),
                answer.get("rule_id"),
                answer=answer,
            )
        if decision != "require_approval":
            return GateAnswer(
                DENY,
                f"CAVRA denied this action: the portal's answer carries no decision it knows ({decision!r}).",
            )
        approval = answer.get("approval") or {}
        if not approval.get("id"):
            return GateAnswer(DENY, f"CAVRA requires approval but opened none: {_describe(answer)}")
        return self._await(body, key, approval["id"], answer)

    def _resume(self, body: dict, key: str, approval_id: str) -> GateAnswer | None:
        """A retried action whose approval this machine remembers: use it if it was approved, keep
        waiting if it is still pending, start afresh if it was denied, expired or used."""
        try:
            state = self.client.approval(approval_id, wait=0)
        except PortalRejected:
            self.memory.forget(key)
            return None
        status = state.get("status")
        if status in APPROVED_STATES or status in WAITING_STATES:
            return self._await(body, key, approval_id, state)
        self.memory.forget(key)
        if status == "denied":
            reason = state.get("decision_reason") or "no reason given"
            return GateAnswer(DENY, f"A reviewer denied this action in CAVRA ({approval_id}): {reason}")
        return None

    def _await(self, body: dict, key: str, approval_id: str, first: dict) -> GateAnswer:
        url = self.client.absolute((first.get("approval") or {}).get("url") or first.get("url"))
        deadline = self.clock() + self.config.approval_wait
        state = first["approval"] if isinstance(first.get("approval"), dict) else first
        while True:
            status = state.get("status")
            url = self.client.absolute(state.get("url")) or url
            if status in APPROVED_STATES:
                final = self.client.decide({**body, "approval_id": approval_id})
                self.memory.forget(key)
                if final["decision"] == "allow":
                    return GateAnswer(
                        ALLOW,
                        f"CAVRA allowed after approval {approval_id}: {_describe(final)}",
                        final.get("decision_id"),
                        final.get("rule_id"),
                        approval_id,
                        url,
                        answer=final,
                    )
                return GateAnswer(
                    DENY, f"CAVRA blocked this action: {_describe(final)}", final.get("decision_id"),
                    final.get("rule_id"), approval_id, url, answer=final,
                )  # fmt: skip
            if status not in WAITING_STATES:
                self.memory.forget(key)
                reason = state.get("decision_reason") or f"the approval is {status}"
                return GateAnswer(
                    DENY,
                    f"CAVRA: approval {approval_id} was not granted: {reason}",
                    None,
                    None,
                    approval_id,
                    url,
                    answer=first if "decision" in first else None,
                )
            remaining = deadline - self.clock()
            if remaining <= 0:
                break
            state = self.client.approval(approval_id, wait=max(1, min(30, int(remaining))))
        self.memory.put(key, approval_id)
        return GateAnswer(
            DENY,
            f"CAVRA requires approval for this action: {_describe(first) if 'decision' in first else approval_id}. "
            f"A reviewer has not decided yet; ask the user to approve {approval_id} at {url} "
            "and then retry exactly the same action.",
            first.get("decision_id"),
            first.get("rule_id"),
            approval_id,
            url,
            pending=True,
            answer=first if "decision" in first else None,
        )

    # -- offline -------------------------------------------------------------------------------------

    def _offline(self, proposed: ProposedAction, body: dict, problem: str) -> GateAnswer:
        if self.config.offline != "bundle":
            return GateAnswer(DENY, f"CAVRA denied this action because {problem}; failing closed.")
        from .bundle import BundleError, offline_decide

        try:
            verdict = offline_decide(self.config, body)
        except BundleError as exc:
            return GateAnswer(
                DENY, f"CAVRA denied this action because {problem}, and the offline bundle is unusable: {exc}"
            )
        if verdict["decision"] == "allow":
            return GateAnswer(
                ALLOW, f"CAVRA (offline bundle) allowed: {_describe(verdict)}", offline=True, answer=verdict
            )
        if verdict["decision"] == "require_approval":
            return GateAnswer(
                DENY,
                f"CAVRA (offline bundle) requires approval, which needs the portal ({problem}): {_describe(verdict)}",
                offline=True,
            )
        return GateAnswer(
            DENY, f"CAVRA (offline bundle) blocked this action: {_describe(verdict)}", offline=True
        )
