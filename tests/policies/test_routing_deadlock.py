"""A fresh tenant's first require_approval while another decision commits: no deadlock (issue 17).

Every decision takes the chain head, then, at COMMIT, its deferred foreign-key check on the tenant
row (FOR KEY SHARE). Creating the default routing rules used to lock the tenant row FOR UPDATE first
and then queue on the chain head: the reverse order, which PostgreSQL broke as a deadlock and the
agent saw as a 503 after a stall.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from approvals.models import RoutingRule
from approvals.routing import DEFAULT_RULES
from cavra_engine.policy import Verdict
from policies.decisions import DecisionFacts, DecisionInput, decision_record
from policies.decisions.types import PolicyRef

from .conftest import ask

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def run_together(*targets) -> None:
    threads = [threading.Thread(target=target) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)


def test_first_require_approval_does_not_deadlock_with_a_committing_decision(
    acme, rolled_out, agent, agent_client
):
    assert not RoutingRule.objects.filter(tenant=acme).exists()
    holding, errors, answers = threading.Event(), [], []
    facts = DecisionFacts(
        agent_ref=agent.public_id,
        agent_name=agent.name,
        data=DecisionInput("read_file", "README.md"),
        verdict=Verdict("allow", None, "low", "", normalised_target="README.md"),
        policy=PolicyRef(),
        action_digest="",
    )

    def committing_decision():
        try:
            with transaction.atomic():
                decision_record(tenant=acme, facts=facts)  # holds the chain head until COMMIT
                holding.set()
                time.sleep(1.5)  # the other request takes its locks and queues on the chain head
            # COMMIT: the deferred foreign-key check reads the tenant row FOR KEY SHARE
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)
        finally:
            holding.set()
            connection.close()

    def first_require_approval():
        try:
            holding.wait(10)
            answers.append(ask(agent_client, action="execute_command", target="kubectl apply -f deploy.yaml"))
        finally:
            connection.close()

    run_together(committing_decision, first_require_approval)
    assert errors == []
    assert answers[0].status_code == 200, answers[0].content
    assert answers[0].json()["decision"] == "require_approval"
    assert RoutingRule.objects.filter(tenant=acme).count() == len(DEFAULT_RULES)


def test_concurrent_first_uses_create_one_default_set(acme, rolled_out, agent_client):
    barrier, answers = threading.Barrier(4), []

    def first_use():
        try:
            barrier.wait(10)
            answers.append(ask(agent_client, action="execute_command", target="kubectl apply -f deploy.yaml"))
        finally:
            connection.close()

    run_together(*[first_use] * 4)
    assert [a.status_code for a in answers] == [200] * 4
    assert RoutingRule.objects.filter(tenant=acme).count() == len(DEFAULT_RULES)
