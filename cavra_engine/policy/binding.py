"""The approval binding: the digest that ties an approval to one exact action and nothing else."""

from __future__ import annotations

import hashlib

from cavra_engine.evidence.canonical import canonicalize


def action_digest(
    *,
    agent_ref: str,
    action: str,
    normalised_target: str,
    repository: str | None,
    environment: str | None,
    policy_digest: str,
) -> str:
    """SHA-256 of the canonical (RFC 8785) action: agent, action, normalised target, scope, policy digest."""
    document = {
        "agent": agent_ref,
        "action": action,
        "target": normalised_target,
        "repository": repository or "",
        "environment": environment or "",
        "policy_digest": policy_digest,
    }
    return hashlib.sha256(canonicalize(document)).hexdigest()
