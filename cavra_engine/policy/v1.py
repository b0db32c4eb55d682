"""CAVRA v1 packs evaluated with v1's own semantics and rule ids."""

from __future__ import annotations

import re
from functools import lru_cache

from .evaluator import ActionRequest, Verdict
from .normalise import git_ops_for_request, parse_mcp_target
from .vocabulary import OUTCOME_DECISION

# v1's finer outcomes, checked (in this order) after the block / approval lists and before `allow`:
# (list key, outcome, severity). A command list is `commands.<key>`, a write list `filesystem.<key>_write`.
SOFT_OUTCOMES = (
    ("allow_with_attestation", "allow_with_attestation", "medium"),
    ("warn", "warn", "low"),
    ("audit_only", "audit_only", "low"),
)
SOFT_REASON = {
    "allow_with_attestation": "Allowed with an attestation (who and why) recorded in evidence",
    "warn": "Allowed with a warning",
    "audit_only": "Allowed and audited",
}


@lru_cache(maxsize=4096)
def _v1_regex(pattern: str) -> re.Pattern[str]:
    # v1: only "*" is special, it crosses "/", and the whole string must match
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")) + r"\Z", re.DOTALL)


def _hit(value: str, patterns: list[str]) -> bool:
    return any(_v1_regex(pattern).match(value) for pattern in patterns)


class V1Runtime:
    def __init__(self, document: dict, digest: str) -> None:
        self.digest = digest
        self.pack_id = document["pack"]["id"]
        self.sections = document["v1"]

    def _verdict(self, decision, rule_id, severity, reason, target, approvers=()) -> Verdict:
        return Verdict(
            decision=OUTCOME_DECISION[decision],
            outcome=decision if OUTCOME_DECISION[decision] != decision else "",
            rule_id=rule_id,
            severity=severity,
            reason=reason,
            approvers=list(approvers),
            normalised_target=target,
            policy_digest=self.digest,
            pack_id=self.pack_id,
        )

    def _soft(self, section: dict, prefix: str, target: str, suffix: str = "") -> Verdict | None:
        for key, outcome, severity in SOFT_OUTCOMES:
            for pattern in section.get(key + suffix) or ():
                if _hit(target, [pattern]):
                    reason = f"{SOFT_REASON[outcome]}: {pattern}"
                    return self._verdict(outcome, f"{prefix}.{outcome}", severity, reason, target)
        return None

    def evaluate(self, request: ActionRequest) -> Verdict:
        action = request.action
        files = self.sections["filesystem"]
        if action in ("read_file", "write_file"):
            target = request.target
            mode = "read" if action == "read_file" else "write"
            for pattern in files["block_read" if mode == "read" else "block_write"]:
                if _hit(target, [pattern]):
                    return self._verdict(
                        "block",
                        f"filesystem.{mode}.block",
                        "high",
                        f"Matched sensitive path policy: {pattern}",
                        target,
                    )
            if mode == "write":
                for pattern in files["require_approval_write"]:
                    if _hit(target, [pattern]):
                        return self._verdict(
                            "require_approval",
                            "filesystem.write.require_approval",
                            "high",
                            f"Matched approval-required path policy: {pattern}",
                            target,
                            ["Platform Security"],
                        )
                soft = self._soft(files, "filesystem.write", target, suffix="_write")
                if soft is not None:
                    return soft
            return self._verdict(
                "allow", f"filesystem.{mode}.allow", "low", "No sensitive path policy matched.", target
            )
        if action == "execute_command":
            commands = self.sections["commands"]
            cleaned = request.target.strip()
            for pattern in commands["block"]:
                if _hit(cleaned, [pattern]):
                    severity = "critical" if "apply" in cleaned or "delete" in cleaned else "high"
                    return self._verdict(
                        "block",
                        "commands.block",
                        severity,
                        f"Matched blocked command policy: {pattern}",
                        cleaned,
                    )
            soft = self._soft(commands, "commands", cleaned)
            if soft is not None:
                return soft
            for pattern in commands["allow"]:
                if _hit(cleaned, [pattern]):
                    return self._verdict(
                        "allow",
                        "commands.allow",
                        "low",
                        f"Matched allowed command policy: {pattern}",
                        cleaned,
                    )
            return self._verdict(
                "require_approval",
                "commands.default.require_approval",
                "medium",
                "No allow rule matched; review required.",
                cleaned,
                ["Repository Owners"],
            )
        if action == "git_operation":
            ops = git_ops_for_request(request.target, request.git, request.context)
            for op in ops:
                if (
                    op.operation == "push"
                    and op.branch
                    and (op.branch.endswith("main") or op.branch.endswith("master"))
                ):
                    return self._verdict(
                        "block",
                        "git.protected_branch.block_direct_push",
                        "high",
                        "Direct push to protected branch is prohibited.",
                        op.branch,
                    )
            return self._verdict(
                "allow", "git.allow", "low", "Git operation is allowed by policy.", request.target
            )
        if action == "mcp_tool_call":
            mcp = self.sections["mcp"]
            server, tool, _caps, _args = parse_mcp_target(request.target, request.mcp)
            raw_server = (
                str((request.mcp or {}).get("server") or "") or request.target.partition(":")[0].strip()
            )
            target = f"{server}:{tool}"
            blocked = set(mcp["blocked_servers"])
            allowed = set(mcp["allowed_servers"])
            names = {server, raw_server}
            if names & blocked or (mcp["block_unknown_servers"] and not names & allowed):
                return self._verdict(
                    "block",
                    "mcp.server.trust.block_unknown",
                    "high",
                    "Untrusted MCP server with filesystem/tool capability is not approved.",
                    target,
                )
            return self._verdict(
                "allow", "mcp.server.trust.allow", "low", "MCP server is trusted for this tool call.", target
            )
        if action == "network_request":
            return self._verdict(
                "allow", "network.allow", "low", "v1 packs do not govern network requests.", request.target
            )
        return self._verdict(
            "block",
            "engine.invalid_request",
            "high",
            f"unknown action type {action!r}",
            str(request.target)[:200],
        )
