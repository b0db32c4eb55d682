"""Reads for approvals: the reviewer's queue, history, detail with evidence trail, break-glass events."""

from __future__ import annotations

import difflib
import hashlib
import json
from datetime import datetime, timedelta

from django.db.models import Case, Count, Exists, F, OuterRef, Q, QuerySet, Value, When
from django.http import Http404
from django.utils import timezone

from approvals.models import LIVE_STATUSES, ApprovalRequest, BreakGlassReview, Review, effective_status_q
from approvals.routing import repository_grant_matches, user_repository_globs
from approvals.services import may_break_glass
from core.authz import can, roles_of
from evidence.models import Decision
from tenants.models import Tenant

_RELATED = ("agent", "agent__owner", "decided_by", "session", "decision", "requested_by")


def can_read_approvals(user, tenant: Tenant | None) -> bool:
    return can(user, tenant, "approvals.view")


def approvals_visible(*, tenant: Tenant, user) -> QuerySet[ApprovalRequest]:
    return ApprovalRequest.objects.visible_to(user, "approvals.view", tenant=tenant).select_related(*_RELATED)


def _lookup_id(public_id) -> str:
    """The id as stored ids look; one with a NUL matches nothing (and PostgreSQL cannot even compare it)."""
    public_id = str(public_id)[:32]
    if "\x00" in public_id:
        raise Http404("No approval request matches the given id.")
    return public_id


def approval_get(*, tenant: Tenant, user, public_id: str) -> ApprovalRequest:
    """Find and may-see in one: missing, another tenant's, or not readable are the same 404."""
    approval = approvals_visible(tenant=tenant, user=user).filter(public_id=_lookup_id(public_id)).first()
    if approval is None:
        raise Http404("No approval request matches the given id.")
    return approval


def approval_get_for_agent(*, tenant: Tenant, agent, public_id: str) -> ApprovalRequest:
    approval = (
        ApprovalRequest.objects.filter(tenant=tenant, agent=agent, public_id=_lookup_id(public_id))
        .select_related(*_RELATED)
        .first()
    )
    if approval is None:
        raise Http404("No approval request matches the given id.")
    return approval


def approval_queue(*, tenant: Tenant, user) -> list[ApprovalRequest]:
    """Pending requests this user may act on, most severe then newest first (fixed query count).

    Each item gets `can_review` (approve/deny) and `can_break_glass`. Reviewers see what they may
    decide; tenant admins (and break-glass grantees) also see every pending request, to break glass.
    """
    if not can(user, tenant, "approvals.review_queue") and not may_break_glass(user, tenant):
        return []
    held = roles_of(user, tenant)
    now = timezone.now()
    breaker = may_break_glass(user, tenant)
    already = Review.objects.filter(request=OuterRef("pk"), reviewer=user)
    qs = (
        ApprovalRequest.objects.filter(
            tenant=tenant, status=ApprovalRequest.Status.PENDING, expires_at__gt=now
        )
        .select_related(*_RELATED)
        .annotate(reviewed_by_me=Exists(already))
        .annotate(approvals=Count("reviews", filter=Q(reviews__verdict=Review.Verdict.APPROVE)))
        .order_by("-severity_rank", "-requested_at", "-id")
    )
    if not breaker:
        qs = qs.filter(reviewer_role__in=list(held))
    globs = user_repository_globs(tenant=tenant, user=user)
    items: list[ApprovalRequest] = []
    for approval in qs[:200]:
        may = approval.reviewer_role in held and not approval.reviewed_by_me
        if (
            may
            and approval.agent_id
            and approval.agent.owner_id == user.pk
            and not tenant.allow_self_approval
        ):
            may = False
        if may and approval.requested_by_id == user.pk:
            may = False
        if may and approval.repository_limited and approval.repository:
            may = repository_grant_matches(globs, approval.repository)
        approval.can_review = may
        approval.can_break_glass = breaker and approval.agent_id is not None
        if may or breaker:
            items.append(approval)
    return items


def _effective_status_expression():
    """The status as it reads now, in SQL (the database twin of `ApprovalRequest.effective_status`)."""
    return Case(
        When(
            status__in=LIVE_STATUSES,
            expires_at__lte=timezone.now(),
            then=Value(ApprovalRequest.Status.EXPIRED),
        ),
        default=F("status"),
    )


def queue_version(items: list[ApprovalRequest]) -> str:
    """A short fingerprint of what the queue shows, so a live poll can answer "unchanged" cheaply."""
    text = "|".join(f"{a.public_id}:{a.status}:{getattr(a, 'approvals', 0)}" for a in items)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def agent_recent_history(*, tenant: Tenant, agents) -> dict[int, dict]:
    """Per agent: approval requests by status over the last 30 days (one query)."""
    since = timezone.now() - timedelta(days=30)
    ids = {a.pk for a in agents}
    out: dict[int, dict] = {pk: {"total": 0, **dict.fromkeys(ApprovalRequest.Status.values, 0)} for pk in ids}
    if not ids:
        return out
    rows = (
        ApprovalRequest.objects.filter(tenant=tenant, agent_id__in=ids, requested_at__gte=since)
        .annotate(now_status=_effective_status_expression())
        .values("agent_id", "now_status")
        .annotate(n=Count("id"))
    )
    for row in rows:
        entry = out[row["agent_id"]]
        entry[row["now_status"]] += row["n"]
        entry["total"] += row["n"]
    for entry in out.values():
        entry["allowed"] = entry["approved"] + entry["consumed"] + entry["break_glass"]
    return out


HISTORY_FILTERS = ("status", "reviewer", "repository", "since", "until", "agent")


def approval_history(*, tenant: Tenant, user, filters: dict | None = None) -> QuerySet[ApprovalRequest]:
    """Every request of the tenant the user may read, newest first, narrowed by the given filters."""
    filters = filters or {}
    qs = approvals_visible(tenant=tenant, user=user).order_by("-requested_at", "-id")
    status = filters.get("status")
    if status:
        qs = qs.filter(effective_status_q(status, timezone.now()))
    reviewer = (filters.get("reviewer") or "").strip()
    if reviewer:
        qs = qs.filter(reviews__reviewer__email__iexact=reviewer).distinct()
    repository = (filters.get("repository") or "").strip()
    if repository:
        qs = qs.filter(repository__icontains=repository)
    agent = (filters.get("agent") or "").strip()
    if agent:
        qs = qs.filter(Q(agent__public_id=agent) | Q(agent__name__iexact=agent))
    for key, lookup in (("since", "requested_at__gte"), ("until", "requested_at__lte")):
        value = filters.get(key)
        if isinstance(value, datetime):
            qs = qs.filter(**{lookup: value})
    return qs


def approval_reviews(approval: ApprovalRequest) -> list[Review]:
    return list(approval.reviews.select_related("reviewer").order_by("created_at", "id"))


def approval_evidence_trail(approval: ApprovalRequest) -> list:
    """The evidence records about this request (and its decision), oldest first."""
    from evidence.models import EvidenceRecord

    subjects = [approval.public_id]
    if approval.decision_id:
        subjects.append(approval.decision.public_id)
    return list(
        EvidenceRecord.objects.filter(tenant=approval.tenant, subject__in=subjects).order_by("seq")[:200]
    )


def break_glass_events(tenant: Tenant, since: datetime | None = None) -> list[BreakGlassReview]:
    """Break-glass uses (with their post-hoc review state), newest first, for the posture dashboard."""
    qs = BreakGlassReview.objects.filter(tenant=tenant).select_related(
        "request", "request__agent", "invoked_by", "reviewed_by"
    )
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    return list(qs.order_by("-created_at", "-id")[:500])


def break_glass_reviews_open(*, tenant: Tenant, user) -> list[BreakGlassReview]:
    if not can(user, tenant, "approvals.review_break_glass"):
        return []
    return [r for r in break_glass_events(tenant) if r.status == BreakGlassReview.Status.OPEN]


# What the agent may send in `context` to show the reviewer the write it wants to make.
CONTENT_KEYS = ("content", "new_content")
DIFF_KEYS = ("diff", "patch")
SHOWN_CONTEXT_LIMIT = 200_000  # characters of content or diff shown on the page; the rest is cut, and said so


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def _cut(text: str) -> tuple[str, bool]:
    return (text[:SHOWN_CONTEXT_LIMIT], True) if len(text) > SHOWN_CONTEXT_LIMIT else (text, False)


def _diff_lines(diff: str) -> list[tuple[str, str]]:
    """Each line of a unified diff with its kind (add, del, hunk, meta, same), for colouring."""
    out = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---", "diff ", "index ")):
            kind = "meta"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "same"
        out.append((kind, line))
    return out


def approval_action_details(approval: ApprovalRequest) -> dict:
    """Exactly what would happen if this request were approved, from what the agent sent with it.

    Reads the decision's stored request: the normalised target, the segment that matched, git and
    MCP parts, and from `context` the proposed content (`content`) or diff (`diff`, or
    `old_string`/`new_string` of an edit). Everything is plain text: the template escapes it.
    """
    stored = (approval.decision.context if approval.decision_id else None) or {}
    request_context = stored.get("request_context") or {}
    if not isinstance(request_context, dict):
        request_context = {}
    content = next((_text(request_context.get(k)) for k in CONTENT_KEYS if _text(request_context.get(k))), "")
    diff = next((_text(request_context.get(k)) for k in DIFF_KEYS if _text(request_context.get(k))), "")
    old, new = _text(request_context.get("old_string")), _text(request_context.get("new_string"))
    if not diff and (old or new):
        diff = "\n".join(
            difflib.unified_diff(
                old.splitlines(), new.splitlines(), approval.target, approval.target, lineterm=""
            )
        )
    content, content_cut = _cut(content)
    diff, diff_cut = _cut(diff)
    shown = set(CONTENT_KEYS) | set(DIFF_KEYS) | {"old_string", "new_string", "cwd", "repo_root"}
    other = {k: v for k, v in request_context.items() if k not in shown}
    mcp = stored.get("mcp") if isinstance(stored.get("mcp"), dict) else None
    arguments = None
    if mcp and "arguments" in mcp:
        arguments, _ = _cut(json.dumps(mcp.get("arguments"), indent=2, sort_keys=True, ensure_ascii=False))
    return {
        "normalised_target": stored.get("normalised_target") or "",
        "matched_segment": stored.get("matched_segment") or "",
        "cwd": _text(request_context.get("cwd")),
        "repo_root": _text(request_context.get("repo_root")),
        "content": content,
        "content_cut": content_cut,
        "diff_lines": _diff_lines(diff) if diff else [],
        "diff_cut": diff_cut,
        "mcp": mcp,
        "mcp_arguments": arguments,
        "git": stored.get("git") if isinstance(stored.get("git"), dict) else None,
        "other_context": json.dumps(other, indent=2, sort_keys=True, ensure_ascii=False) if other else "",
        "policy_version": approval.decision.policy_version if approval.decision_id else "",
        "policy_mode": approval.decision.policy_mode if approval.decision_id else "",
    }


AGENT_RECENT_DECISIONS = 10


def agent_recent_decisions(*, tenant: Tenant, agent, limit: int = AGENT_RECENT_DECISIONS) -> list:
    """The agent's latest decisions (any verdict), newest first, for the reviewer's judgement."""
    return list(
        Decision.objects.filter(tenant=tenant, agent_ref=agent.public_id)
        .only("public_id", "action", "target", "decision", "rule_id", "created_at", "repository")
        .order_by("-created_at", "-id")[:limit]
    )
