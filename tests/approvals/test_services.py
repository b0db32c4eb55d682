"""The approval state machine: routing, quorum, who may approve, binding, consumption, expiry, break-glass."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from approvals.models import ApprovalRequest, BreakGlassReview, RoutingRule
from approvals.selectors import approval_queue, break_glass_events
from approvals.services import (
    LEGAL_TRANSITIONS,
    ApprovalStateError,
    approval_check_for_action,
    approval_request_approve,
    approval_request_break_glass,
    approval_request_cancel,
    approval_request_deny,
    approval_request_escalate,
    approval_request_expire,
    break_glass_grant_add,
    break_glass_review_close,
    reviewer_repository_grant_add,
)
from approvals.services.state import _transition
from approvals.tasks import approvals_escalate_due, approvals_expire_due
from core.models import OutboxMessage
from core.roles import Role
from evidence.models import EvidenceRecord

S = ApprovalRequest.Status
pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(acme, member, make_agent):
    owner = member(acme, Role.OPERATOR, email="owner@acme.test")
    agent = make_agent(acme, owner=owner, name="builder")
    alice = member(acme, Role.SECURITY_REVIEWER, email="alice@acme.test")
    bob = member(acme, Role.SECURITY_REVIEWER, email="bob@acme.test")
    admin = member(acme, Role.TENANT_ADMIN, email="admin@acme.test")
    return type("Setup", (), {"owner": owner, "agent": agent, "alice": alice, "bob": bob, "admin": admin})


def kinds(approval):
    return list(
        EvidenceRecord.objects.filter(tenant=approval.tenant, subject=approval.public_id)
        .order_by("seq")
        .values_list("kind", flat=True)
    )


# --- routing --------------------------------------------------------------------------------------


def test_default_rules_created_on_first_use_and_route_by_kind(acme, setup, open_request):
    assert not RoutingRule.objects.filter(tenant=acme).exists()
    workflow = open_request(acme, setup.agent, target=".github/workflows/deploy.yml")
    prod = open_request(acme, setup.agent, target="main.tf", environment="production")
    mcp = open_request(
        acme, setup.agent, action="mcp_tool_call", target="github:create_issue", environment=""
    )
    other = open_request(acme, setup.agent, target="README.md")
    assert RoutingRule.objects.filter(tenant=acme).count() == 4
    assert (workflow.group, prod.group, mcp.group, other.group) == (
        "platform-security",
        "cloud-security",
        "ai-governance",
        "repository-owners",
    )
    assert other.repository_limited and not workflow.repository_limited
    assert all(a.status == S.PENDING and a.public_id.startswith("apr_") for a in (workflow, prod, mcp, other))
    assert abs((other.expires_at - other.requested_at) - timedelta(hours=1)) < timedelta(seconds=1)


def test_routing_rules_are_ordered_and_match_every_field(acme, setup, open_request):
    RoutingRule.objects.create(
        tenant=acme,
        position=1,
        name="critical payments",
        match_rule_id="commands.*",
        match_actions=["execute_command"],
        match_severities=["critical"],
        match_repository="acme/pay*",
        match_environment="prod*",
        match_policy_pack="acme-*",
        match_target_contains=["kubectl"],
        quorum=2,
        ttl_seconds=600,
        single_use=False,
        reason_required=False,
        group="cloud-security",
    )
    RoutingRule.objects.create(tenant=acme, position=50, name="catch-all", quorum=1)
    base = dict(
        action="execute_command",
        target="kubectl delete pod x",
        repository="acme/payments",
        environment="production",
        rule_id="commands.default.require_approval",
        severity="critical",
        policy_pack="acme-baseline",
    )
    hit = open_request(acme, setup.agent, **base)
    assert (hit.quorum, hit.single_use, hit.reason_required) == (2, False, False)
    assert timedelta(seconds=599) < hit.expires_at - hit.requested_at <= timedelta(seconds=600)
    for change in (
        {"rule_id": "filesystem.write.x"},
        {"action": "write_file"},
        {"severity": "high"},
        {"repository": "acme/web"},
        {"environment": "staging"},
        {"policy_pack": "globex-pack"},
        {"target": "ls -la"},
    ):
        miss = open_request(acme, setup.agent, **{**base, **change})
        assert miss.quorum == 1, change
    # Existing rules mean no defaults are added.
    assert RoutingRule.objects.filter(tenant=acme).count() == 2


# --- notifications --------------------------------------------------------------------------------


def test_open_notifies_routed_reviewers_through_the_outbox_after_commit(
    acme, setup, open_request, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        approval = open_request(acme, setup.agent, target=".github/workflows/ci.yml")
        assert OutboxMessage.objects.get().status == "pending" and not mail.outbox  # nothing before commit
    assert len(callbacks) == 1
    message = OutboxMessage.objects.get(idempotency_key=f"approval:{approval.public_id}:opened")
    assert sorted(message.payload["recipients"]) == ["alice@acme.test", "bob@acme.test"]
    assert message.status == OutboxMessage.Status.SENT and message.attempts == 1
    assert message.attempt_log.get().ok
    assert any(approval.public_id in m.body and m.to == message.payload["recipients"] for m in mail.outbox)


def test_decision_notifies_owner_and_nearing_expiry_escalates_to_admins(acme, setup, open_request):
    approval = open_request(acme, setup.agent, target=".github/workflows/ci.yml")
    approval_request_approve(approval=approval, actor=setup.alice, reason="looks fine")
    owner_mail = OutboxMessage.objects.get(idempotency_key=f"approval:{approval.public_id}:approved:owner")
    assert owner_mail.payload["recipients"] == ["owner@acme.test"]

    late = open_request(acme, setup.agent, target=".github/workflows/other.yml")
    assert approvals_escalate_due() == 0  # a fresh request is not near expiry
    ApprovalRequest.objects.filter(pk=late.pk).update(
        requested_at=timezone.now() - timedelta(minutes=55), expires_at=timezone.now() + timedelta(minutes=5)
    )
    assert approvals_escalate_due() == 1
    assert approvals_escalate_due() == 0  # only once
    escalation = OutboxMessage.objects.get(idempotency_key=f"approval:{late.public_id}:escalated")
    assert escalation.payload["recipients"] == ["admin@acme.test"]
    assert "approval.escalated" in kinds(late)


def test_no_eligible_reviewer_notifies_tenant_admins(acme, setup, open_request):
    approval = open_request(acme, setup.agent, target="README.md")  # repository owners: nobody has a grant
    message = OutboxMessage.objects.get(idempotency_key=f"approval:{approval.public_id}:opened")
    assert message.payload["recipients"] == ["admin@acme.test"]


# --- transitions, legal and illegal ---------------------------------------------------------------


def test_every_illegal_transition_is_refused():
    all_states = set(S.values)
    for state in all_states:
        for target in all_states - set(LEGAL_TRANSITIONS[state]):
            approval = ApprovalRequest(status=state)
            with pytest.raises(ApprovalStateError):
                _transition(approval, target)


def test_terminal_states_have_no_way_out():
    for state in (S.EXPIRED, S.CANCELLED, S.CONSUMED):
        assert LEGAL_TRANSITIONS[state] == frozenset()


def test_approve_then_consume_writes_evidence_for_each_step(acme, setup, open_request):
    approval = open_request(acme, setup.agent, target=".github/workflows/ci.yml")
    approval = approval_request_approve(approval=approval, actor=setup.alice, reason="reviewed the diff")
    assert approval.status == S.APPROVED and approval.decided_by == setup.alice
    check = approval_check_for_action(
        tenant=acme, agent=setup.agent, approval_id=approval.public_id, action_digest=approval.action_digest
    )
    assert check.ok and "alice@acme.test" in check.reason
    approval.refresh_from_db()
    assert approval.status == S.CONSUMED and approval.consumed_at is not None
    again = approval_check_for_action(
        tenant=acme, agent=setup.agent, approval_id=approval.public_id, action_digest=approval.action_digest
    )
    assert not again.ok and "already been used" in again.reason
    assert kinds(approval) == ["approval.opened", "approval.approved", "approval.consumed"]


def test_deny_ends_the_request_and_stale_actions_are_refused(acme, setup, open_request):
    approval = open_request(acme, setup.agent, target=".github/workflows/ci.yml")
    approval_request_deny(approval=approval, actor=setup.alice, reason="not now")
    with pytest.raises(ApprovalStateError, match="already denied by alice@acme.test"):
        approval_request_approve(approval=approval, actor=setup.bob, reason="fine")
    check = approval_check_for_action(
        tenant=acme, agent=setup.agent, approval_id=approval.public_id, action_digest=approval.action_digest
    )
    assert not check.ok and "denied" in check.reason


def test_reason_required_names_the_field(acme, setup, open_request):
    approval = open_request(acme, setup.agent, target=".github/workflows/ci.yml")
    with pytest.raises(ValidationError) as exc:
        approval_request_approve(approval=approval, actor=setup.alice, reason="  ")
    assert "reason" in exc.value.message_dict
    approval.refresh_from_db()
    assert approval.status == S.PENDING and not approval.reviews.exists()


def test_cancel_by_admin_and_not_by_reviewer(acme, setup, open_request):
    approval = open_request(acme, setup.agent, target=".github/workflows/ci.yml")
    with pytest.raises(PermissionDenied):
        approval_request_cancel(approval=approval, actor=setup.alice, reason="x")
    approval = approval_request_cancel(approval=approval, actor=setup.admin, reason="agent stopped")
    assert approval.status == S.CANCELLED
    with pytest.raises(ApprovalStateError):
        approval_request_cancel(approval=approval, actor=setup.admin)


# --- quorum and who may approve -------------------------------------------------------------------


def test_quorum_needs_distinct_people(acme, setup, open_request, member):
    RoutingRule.objects.create(tenant=acme, position=1, name="two keys", quorum=2)
    carol = member(acme, Role.SECURITY_REVIEWER)
    approval = open_request(acme, setup.agent)
    approval = approval_request_approve(approval=approval, actor=setup.alice, reason="ok")
    assert approval.status == S.PENDING
    with pytest.raises(PermissionDenied, match="never counts twice"):
        approval_request_approve(approval=approval, actor=setup.alice, reason="ok again")
    approval = approval_request_approve(approval=approval, actor=setup.bob, reason="ok too")
    assert approval.status == S.APPROVED
    with pytest.raises(ApprovalStateError):
        approval_request_approve(approval=approval, actor=carol, reason="late")
    assert "approval.review_recorded" in kinds(approval)


def test_quorum_deny_not_ending_when_configured(acme, setup, open_request, member):
    RoutingRule.objects.create(tenant=acme, position=1, name="majority", quorum=2, deny_ends=False)
    carol = member(acme, Role.SECURITY_REVIEWER)
    approval = open_request(acme, setup.agent)
    approval = approval_request_deny(approval=approval, actor=setup.alice, reason="hmm")
    assert approval.status == S.PENDING
    approval = approval_request_approve(approval=approval, actor=setup.bob, reason="ok")
    assert approval.status == S.PENDING
    approval = approval_request_approve(approval=approval, actor=carol, reason="ok")
    assert approval.status == S.APPROVED


def test_who_may_approve(acme, globex, setup, open_request, member, make_agent):
    approval = open_request(acme, setup.agent, target=".github/workflows/ci.yml")
    operator = member(acme, Role.OPERATOR)
    for outsider in (operator, setup.admin, member(globex, Role.SECURITY_REVIEWER)):
        with pytest.raises(PermissionDenied, match="Security reviewer"):
            approval_request_approve(approval=approval, actor=outsider, reason="x")
    # The agent's owner, even holding the reviewer role, may not approve their own agent's request...
    reviewer_owner = member(acme, Role.SECURITY_REVIEWER)
    own_agent = make_agent(acme, owner=reviewer_owner)
    own = open_request(acme, own_agent, target=".github/workflows/ci.yml")
    with pytest.raises(PermissionDenied, match="You own this agent"):
        approval_request_approve(approval=own, actor=reviewer_owner, reason="mine")
    assert own not in approval_queue(tenant=acme, user=reviewer_owner)
    # ...unless the tenant allows it.
    acme.allow_self_approval = True
    acme.save()
    own = ApprovalRequest.objects.get(pk=own.pk)
    assert approval_request_approve(approval=own, actor=reviewer_owner, reason="mine").status == S.APPROVED


def test_repository_limited_rules_need_a_matching_grant(acme, setup, open_request):
    approval = open_request(acme, setup.agent, target="README.md", repository="acme/web")
    assert approval.repository_limited
    assert approval_queue(tenant=acme, user=setup.alice) == []
    with pytest.raises(PermissionDenied, match="not a reviewer for repository acme/web"):
        approval_request_approve(approval=approval, actor=setup.alice, reason="x")
    reviewer_repository_grant_add(tenant=acme, user=setup.alice, repository_glob="acme/api")
    with pytest.raises(PermissionDenied):
        approval_request_approve(approval=approval, actor=setup.alice, reason="x")
    reviewer_repository_grant_add(tenant=acme, user=setup.alice, repository_glob="acme/*")
    assert [a.public_id for a in approval_queue(tenant=acme, user=setup.alice)] == [approval.public_id]
    assert approval_request_approve(approval=approval, actor=setup.alice, reason="ok").status == S.APPROVED


# --- binding and consumption ----------------------------------------------------------------------


def test_binding_refuses_any_other_action(acme, globex, setup, open_request, make_agent):
    from cavra_engine.policy.binding import action_digest

    parts = dict(
        agent_ref=setup.agent.public_id,
        action="write_file",
        normalised_target=".github/workflows/ci.yml",
        repository="acme/web",
        environment="dev",
        policy_digest="sha256:v1",
    )
    digest = action_digest(**parts)
    approval = open_request(
        acme, setup.agent, action_digest=digest, target=".github/workflows/ci.yml", policy_digest="sha256:v1"
    )
    approval_request_approve(approval=approval, actor=setup.alice, reason="ok")

    def check(agent=setup.agent, tenant=acme, **change):
        return approval_check_for_action(
            tenant=tenant,
            agent=agent,
            approval_id=approval.public_id,
            action_digest=action_digest(**{**parts, **change}),
        )

    for change in (
        {"normalised_target": ".github/workflows/evil.yml"},
        {"repository": "acme/other"},
        {"environment": "production"},
        {"policy_digest": "sha256:v2"},
        {"action": "execute_command"},
    ):
        result = check(**change)
        assert not result.ok and "different action" in result.reason, change
    other_agent = make_agent(acme)
    result = check(agent=other_agent)
    assert not result.ok and result.approval is None and "different agent" in result.reason
    result = check(tenant=globex)
    assert not result.ok and "does not exist" in result.reason
    assert ApprovalRequest.objects.get(pk=approval.pk).status == S.APPROVED  # refusals consume nothing
    assert check().ok


def test_reusable_approval_allows_repeats_until_expiry(acme, setup, open_request):
    RoutingRule.objects.create(tenant=acme, position=1, name="reusable", single_use=False)
    approval = open_request(acme, setup.agent)
    approval_request_approve(approval=approval, actor=setup.alice, reason="ok for an hour")
    for _ in range(3):
        assert approval_check_for_action(
            tenant=acme,
            agent=setup.agent,
            approval_id=approval.public_id,
            action_digest=approval.action_digest,
        ).ok
    approval.refresh_from_db()
    assert approval.status == S.APPROVED and approval.use_count == 3
    ApprovalRequest.objects.filter(pk=approval.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    result = approval_check_for_action(
        tenant=acme, agent=setup.agent, approval_id=approval.public_id, action_digest=approval.action_digest
    )
    assert not result.ok and "expired" in result.reason
    assert ApprovalRequest.objects.get(pk=approval.pk).status == S.EXPIRED


def test_pending_is_not_usable(acme, setup, open_request):
    approval = open_request(acme, setup.agent)
    result = approval_check_for_action(
        tenant=acme, agent=setup.agent, approval_id=approval.public_id, action_digest=approval.action_digest
    )
    assert not result.ok and "pending" in result.reason


# --- expiry ---------------------------------------------------------------------------------------


def test_expiry_task_expires_overdue_pending_and_unused_approvals(acme, setup, open_request):
    pending = open_request(acme, setup.agent, target=".github/workflows/a.yml")
    approved = open_request(acme, setup.agent, target=".github/workflows/b.yml")
    approval_request_approve(approval=approved, actor=setup.alice, reason="ok")
    fresh = open_request(acme, setup.agent, target=".github/workflows/c.yml")
    past = timezone.now() - timedelta(seconds=1)
    ApprovalRequest.objects.filter(pk__in=[pending.pk, approved.pk]).update(expires_at=past)
    assert approvals_expire_due() == 2
    assert ApprovalRequest.objects.get(pk=pending.pk).status == S.EXPIRED
    assert ApprovalRequest.objects.get(pk=approved.pk).status == S.EXPIRED
    assert ApprovalRequest.objects.get(pk=fresh.pk).status == S.PENDING
    assert approval_request_expire(approval_id=fresh.pk).status == S.PENDING  # not overdue: untouched
    with pytest.raises(ApprovalStateError, match="expired at"):
        approval_request_approve(approval=pending, actor=setup.bob, reason="late")
    assert kinds(pending)[-1] == "approval.expired"


def test_review_of_an_overdue_request_is_refused(acme, setup, open_request):
    approval = open_request(acme, setup.agent, target=".github/workflows/a.yml")
    ApprovalRequest.objects.filter(pk=approval.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(ApprovalStateError, match="expired"):
        approval_request_approve(approval=approval, actor=setup.alice, reason="ok")
    assert approval_request_escalate(approval_id=approval.pk).escalated_at is None


# --- break-glass ----------------------------------------------------------------------------------


def test_break_glass_by_admin_is_flagged_notified_and_opens_a_review(acme, setup, open_request, member):
    approval = open_request(acme, setup.agent, target=".github/workflows/ci.yml")
    with pytest.raises(ValidationError) as exc:
        approval_request_break_glass(approval=approval, actor=setup.admin, justification="short")
    assert "justification" in exc.value.message_dict
    approval = approval_request_break_glass(
        approval=approval, actor=setup.admin, justification="Production outage, INC-4211, fix must ship now"
    )
    assert approval.status == S.BREAK_GLASS and approval.is_break_glass
    review = BreakGlassReview.objects.get(request=approval)
    assert review.status == "open" and review.due_at > timezone.now()
    message = OutboxMessage.objects.get(idempotency_key=f"approval:{approval.public_id}:break_glass")
    assert sorted(message.payload["recipients"]) == ["admin@acme.test", "alice@acme.test", "bob@acme.test"]
    assert "BREAK-GLASS" in message.payload["subject"]
    record = EvidenceRecord.objects.get(subject=approval.public_id, kind="approval.break_glass")
    assert record.payload["break_glass"] is True
    assert [e.request_id for e in break_glass_events(acme, since=timezone.now() - timedelta(hours=1))] == [
        approval.pk
    ]
    check = approval_check_for_action(
        tenant=acme, agent=setup.agent, approval_id=approval.public_id, action_digest=approval.action_digest
    )
    assert check.ok and check.reason.startswith("break-glass by admin@acme.test")
    # The post-hoc review: never by the person who broke glass.
    with pytest.raises(PermissionDenied):
        break_glass_review_close(review=review, actor=setup.admin, notes="fine")
    auditor = member(acme, Role.AUDITOR)
    closed = break_glass_review_close(
        review=review, actor=auditor, notes="Outage confirmed; change reviewed."
    )
    assert closed.status == "closed"


def test_break_glass_permission(acme, setup, open_request):
    approval = open_request(acme, setup.agent, target=".github/workflows/ci.yml")
    with pytest.raises(PermissionDenied):
        approval_request_break_glass(
            approval=approval, actor=setup.alice, justification="I really need it now"
        )
    break_glass_grant_add(tenant=acme, user=setup.alice, actor=setup.admin)
    approval = approval_request_break_glass(
        approval=approval, actor=setup.alice, justification="I really need it now"
    )
    assert approval.status == S.BREAK_GLASS


def test_break_glass_overrides_a_denial_but_not_a_consumed_request(acme, setup, open_request):
    approval = open_request(acme, setup.agent, target=".github/workflows/ci.yml")
    approval_request_deny(approval=approval, actor=setup.alice, reason="no")
    approval = approval_request_break_glass(
        approval=approval, actor=setup.admin, justification="Overriding: incident commander call"
    )
    assert approval.status == S.BREAK_GLASS
    assert approval_check_for_action(
        tenant=acme, agent=setup.agent, approval_id=approval.public_id, action_digest=approval.action_digest
    ).ok
    with pytest.raises(ApprovalStateError, match="consumed"):
        approval_request_break_glass(approval=approval, actor=setup.admin, justification="again, please now")
