"""Two reviewers at the same moment, two agents re-using one approval at once: exactly one outcome."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from approvals.models import ApprovalRequest
from approvals.services import (
    ApprovalStateError,
    approval_check_for_action,
    approval_request_approve,
    approval_request_deny,
)
from core.roles import Role
from evidence.models import EvidenceRecord

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def race(*calls):
    """Run the calls in threads released together; return [(result|exception)] in call order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait()
            results[index] = call()
        except Exception as exc:  # noqa: BLE001 - collected for the assertions
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


@pytest.mark.parametrize("round_", range(5))
def test_concurrent_approve_and_deny_produce_exactly_one_outcome(
    acme, member, make_agent, open_request, round_
):
    alice = member(acme, Role.SECURITY_REVIEWER)
    bob = member(acme, Role.SECURITY_REVIEWER)
    agent = make_agent(acme)
    approval = open_request(acme, agent, target=".github/workflows/ci.yml")

    results = race(
        lambda: approval_request_approve(approval=approval, actor=alice, reason="ship it"),
        lambda: approval_request_deny(approval=approval, actor=bob, reason="no"),
    )
    winners = [r for r in results if isinstance(r, ApprovalRequest)]
    losers = [r for r in results if isinstance(r, ApprovalStateError)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert "was not recorded" in losers[0].message
    final = ApprovalRequest.objects.get(pk=approval.pk)
    assert final.status == winners[0].status
    assert final.reviews.count() == 1
    decisive = EvidenceRecord.objects.filter(
        subject=approval.public_id, kind__in=["approval.approved", "approval.denied"]
    )
    assert decisive.count() == 1


def test_concurrent_use_of_a_single_use_approval_allows_exactly_one(acme, member, make_agent, open_request):
    alice = member(acme, Role.SECURITY_REVIEWER)
    agent = make_agent(acme)
    approval = open_request(acme, agent, target=".github/workflows/ci.yml")
    approval_request_approve(approval=approval, actor=alice, reason="ok")

    def use():
        return approval_check_for_action(
            tenant=acme, agent=agent, approval_id=approval.public_id, action_digest=approval.action_digest
        )

    results = race(use, use, use)
    assert sorted(r.ok for r in results) == [False, False, True], results
    assert ApprovalRequest.objects.get(pk=approval.pk).status == "consumed"
    assert EvidenceRecord.objects.filter(subject=approval.public_id, kind="approval.consumed").count() == 1
