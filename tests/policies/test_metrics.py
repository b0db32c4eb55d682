"""GET /metrics: decision latency by outcome, fail-closed answers, the sequencer's counters and backlog gauges,
scraped after real decisions; and who may scrape (METRICS_TOKEN bearer or a superuser session)."""

from __future__ import annotations

import pytest
from django.db import OperationalError, connection
from django.test import override_settings
from prometheus_client.parser import text_string_to_metric_families

from evidence.services.sequencer import evidence_integrate_all
from tests.factories import UserFactory
from tests.policies.conftest import ask
from tests.support.clients import bearer_client, logged_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("metrics_token")]

TOKEN = "metrics-test-token-0123456789"


@pytest.fixture
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN


def scrape() -> dict[tuple[str, tuple], float]:
    response = bearer_client(TOKEN).get("/metrics")
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_decisions_move_the_latency_histogram_and_the_sequencer_counters(rolled_out, agent_client):
    before = scrape()
    answers = [
        ask(agent_client, action="read_file", target="src/app.py", repository="acme/payments").json(),
        ask(agent_client, action="read_file", target=".env").json(),
        ask(agent_client, action="execute_command", target="kubectl apply -f deploy.yaml").json(),
        ask(agent_client, action="read_file", target="docs/a.md").json(),
    ]
    assert [a["decision"] for a in answers] == ["allow", "block", "require_approval", "allow"]
    after = scrape()
    for outcome, n in (("allow", 2), ("block", 1), ("require_approval", 1)):
        moved = value(after, "cavra_decision_seconds_count", outcome=outcome) - value(
            before, "cavra_decision_seconds_count", outcome=outcome
        )
        assert moved == n, outcome
    assert value(after, "cavra_decision_seconds_sum", outcome="allow") > value(
        before, "cavra_decision_seconds_sum", outcome="allow"
    )
    # Inline mode (tests): each decision's leaf is integrated on commit, one batch or more each.
    records = value(after, "cavra_sequencer_records_integrated_total") - value(
        before, "cavra_sequencer_records_integrated_total"
    )
    batches = value(after, "cavra_sequencer_batches_integrated_total") - value(
        before, "cavra_sequencer_batches_integrated_total"
    )
    assert records >= 4 and 1 <= batches <= records
    assert (
        value(after, "cavra_sequencer_integration_delay_seconds_count")
        - value(before, "cavra_sequencer_integration_delay_seconds_count")
        == records
    )
    assert value(after, "cavra_sequencer_leaves_pending") == 0
    assert value(after, "cavra_sequencer_backlog_up") == 1


@override_settings(CAVRA_EVIDENCE_SEQUENCER="process")
def test_pending_leaves_and_lag_are_gauges_read_at_scrape_time(rolled_out, agent_client):
    for target in ("a.py", "b.py", "c.py"):
        assert ask(agent_client, action="read_file", target=target).json()["decision"] == "allow"
    pending = scrape()
    assert value(pending, "cavra_sequencer_leaves_pending") == 3
    assert value(pending, "cavra_sequencer_oldest_leaf_age_seconds") > 0
    assert evidence_integrate_all() == 3
    drained = scrape()
    assert value(drained, "cavra_sequencer_leaves_pending") == 0
    assert value(drained, "cavra_sequencer_oldest_leaf_age_seconds") == 0
    assert (
        value(drained, "cavra_sequencer_records_integrated_total")
        - value(pending, "cavra_sequencer_records_integrated_total")
        == 3
    )


def _refusing(prefixes):
    def refuse(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith(prefixes):
            raise OperationalError("the database refused the statement (test)")
        return execute(sql, params, many, context)

    return refuse


# Every write (the credential's first touch already fails) or only the decision's own statement
# (the Decision and its leaf in one `WITH leaf AS (INSERT …) INSERT …`).
@pytest.mark.parametrize(
    "prefixes", [("INSERT", "WITH", "UPDATE"), ("WITH",)], ids=["every-write", "decision"]
)
def test_fail_closed_answers_are_counted(rolled_out, agent_client, prefixes):
    before = scrape()
    with connection.execute_wrapper(_refusing(prefixes)):
        response = ask(agent_client, action="read_file", target="src/app.py")
    assert response.status_code == 503 and response.json()["decision"] == "block"
    after = scrape()
    assert (
        value(after, "cavra_fail_closed_answers_total", caller="agent")
        - value(before, "cavra_fail_closed_answers_total", caller="agent")
        == 1
    )
    assert (
        value(after, "cavra_decision_seconds_count", outcome="unavailable")
        - value(before, "cavra_decision_seconds_count", outcome="unavailable")
        == 1
    )
    assert value(after, "cavra_decision_seconds_count", outcome="allow") == value(
        before, "cavra_decision_seconds_count", outcome="allow"
    )


def test_only_the_token_or_a_superuser_may_scrape(acme, member, settings):
    anonymous = logged_in(None).get("/metrics")
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"].startswith("Bearer")
    assert bearer_client("wrong-token").get("/metrics").status_code == 401
    assert bearer_client(TOKEN[:-1]).get("/metrics").status_code == 401
    assert bearer_client(TOKEN).get("/metrics").status_code == 200
    assert bearer_client(TOKEN).post("/metrics").status_code == 405
    admin = member(acme, "tenant_admin", "operator")
    refused = logged_in(admin, acme).get("/metrics")
    assert refused.status_code == 403 and b"cavra_" not in refused.content
    superuser = UserFactory(email="root@example.test", is_superuser=True, is_staff=True)
    assert logged_in(superuser).get("/metrics").status_code == 200
    # An empty METRICS_TOKEN never matches (not even an empty bearer); superusers still can.
    settings.METRICS_TOKEN = ""
    assert bearer_client("").get("/metrics").status_code == 401
    assert bearer_client(TOKEN).get("/metrics").status_code == 401
    assert logged_in(superuser).get("/metrics").status_code == 200
