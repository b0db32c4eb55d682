"""Step: serialize. The response body of POST /api/v1/decisions (documented by DecisionResponseSerializer).

A plain function rather than a DRF serializer instance: this runs on every agent action, and a test
holds its output equal to what DecisionResponseSerializer renders for the same outcome.
"""

from __future__ import annotations

from django.urls import reverse

from policies.decisions.types import DecisionOutcome


def _utc(value) -> str:
    return value.isoformat().replace("+00:00", "Z")


def approval_summary(approval) -> dict:
    return {
        "id": approval.public_id,
        "status": approval.status,
        "expires_at": _utc(approval.expires_at) if approval.expires_at else None,
        "url": reverse("approvals:detail", kwargs={"public_id": approval.public_id}),
    }


def decision_response(outcome: DecisionOutcome) -> dict:
    d = outcome.decision
    body = {
        "decision_id": d.public_id,
        "decision": d.decision,
        "rule_id": d.rule_id or None,
        "reason": d.reason,
        "severity": d.severity or None,
        "policy": {
            "pack": d.policy_pack or None,
            "version": d.policy_version or None,
            "digest": d.policy_digest or None,
            "mode": d.policy_mode or None,
        },
        "approval": approval_summary(outcome.approval) if outcome.approval is not None else None,
        "evidence": {
            "id": outcome.evidence_id,
            "leaf_hash": outcome.leaf_hash,
            "seq": outcome.evidence_seq,
            "hash": outcome.evidence_hash,
        },
        "session_id": d.session.public_id if d.session_id else None,
        "timestamp": _utc(d.created_at),
    }
    if outcome.would_have:
        body["audit_only"] = outcome.would_have
    return body
