"""Writes for approvals: open, review (approve/deny with quorum), break-glass, cancel, expire, escalate, consume.

Every state change goes through `_transition`, which refuses illegal moves, and runs under a row
lock (SELECT ... FOR UPDATE) in a transaction that also appends the evidence record, so two
reviewers acting at the same moment produce exactly one outcome. Notifications are outbox rows in
the same transaction, delivered after commit."""

from __future__ import annotations

from approvals.services.break_glass import (
    approval_request_break_glass,
    approval_request_cancel,
    break_glass_review_close,
)
from approvals.services.expiry import approval_request_escalate, approval_request_expire
from approvals.services.grants import break_glass_grant_add, reviewer_repository_grant_add
from approvals.services.opening import approval_request_open, approval_request_open_for_subject
from approvals.services.review import approval_request_approve, approval_request_deny, approval_request_review
from approvals.services.state import (
    BREAK_GLASS_REVIEW_DUE,
    ESCALATE_FRACTION,
    LEGAL_TRANSITIONS,
    MIN_JUSTIFICATION,
    USABLE,
    ApprovalCheck,
    ApprovalNotAllowed,
    ApprovalStateError,
    S,
    approval_eligible_reviewers,
    approval_url,
    may_break_glass,
    reviewer_refusal,
)
from approvals.services.use import approval_check_for_action

__all__ = [
    "S",
    "LEGAL_TRANSITIONS",
    "USABLE",
    "BREAK_GLASS_REVIEW_DUE",
    "ESCALATE_FRACTION",
    "MIN_JUSTIFICATION",
    "ApprovalStateError",
    "ApprovalNotAllowed",
    "ApprovalCheck",
    "approval_url",
    "approval_eligible_reviewers",
    "reviewer_refusal",
    "may_break_glass",
    "approval_request_open",
    "approval_request_open_for_subject",
    "approval_request_review",
    "approval_request_approve",
    "approval_request_deny",
    "approval_request_break_glass",
    "approval_request_cancel",
    "break_glass_review_close",
    "approval_request_expire",
    "approval_request_escalate",
    "approval_check_for_action",
    "reviewer_repository_grant_add",
    "break_glass_grant_add",
]
