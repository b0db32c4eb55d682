"""Faults with a real worker and broker: a worker killed with kill -9 mid-delivery, the broker down.

In each, every message reaches the receiver, in order per connector, and exactly once by
idempotency key (a worker killed between the send and its commit may send its in-flight message
again; the key lets the receiver drop that repeat, and nothing else is ever repeated).
"""

from __future__ import annotations

import os

import pytest

from cavra_portal.celery import app as celery_app
from core.models import OutboxMessage
from core.outbox import outbox_deliver_due
from tests.connectors import receivers as r
from tests.connectors.workers import Broker, Worker, wait_until
from tests.factories import ConnectorFactory, recorded_decisions

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def celery_inline():
    """Overrides the package's inline fixture: here tasks really go through a broker to a worker."""
    yield


def _reconnect() -> None:
    """Make this process's producer connect to the configured broker afresh (the app pools connections)."""
    celery_app.close()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    # The router is built once per process from the routes of that moment: an earlier test in this
    # process may have built it with the deployment's queues, which this module's worker does not read.
    celery_app.amqp.flush_routes()
    celery_app.amqp.__dict__.pop("router", None)


@pytest.fixture(scope="module")
def broker():
    """One broker for the module: the producer of this process is configured once."""
    broker = Broker().start()
    queue = f"h12b-faults-{os.getpid()}"
    before = (
        celery_app.conf.broker_url,
        celery_app.conf.task_default_queue,
        celery_app.conf.task_always_eager,
        celery_app.conf.task_routes,
    )
    celery_app.conf.broker_url, celery_app.conf.task_default_queue = broker.url, queue
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_routes = {}  # every task to this module's own queue, not the deployment's queues
    _reconnect()
    broker.queue = queue
    yield broker
    (
        celery_app.conf.broker_url,
        celery_app.conf.task_default_queue,
        celery_app.conf.task_always_eager,
        celery_app.conf.task_routes,
    ) = before
    _reconnect()
    broker.stop()


@pytest.fixture
def workers(broker):
    started = []

    def start():
        worker = Worker(broker, broker.queue).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def _all_sent(connector) -> bool:
    outbox_deliver_due()  # what beat does every minute
    return not OutboxMessage.objects.filter(destination=connector.destination).exclude(status="sent").exists()


def _assert_exactly_once_in_order(receiver, connector, allowed_repeats: int = 0):
    keys = list(
        OutboxMessage.objects.filter(destination=connector.destination)
        .order_by("id")
        .values_list("idempotency_key", flat=True)
    )
    first_seen = list(dict.fromkeys(receiver.keys))
    assert first_seen == keys  # every message, in order, none lost
    assert sum(n - 1 for n in receiver.duplicates().values()) <= allowed_repeats


def test_worker_killed_mid_delivery_loses_nothing(acme, receivers, workers):
    receiver = receivers(r.Receiver(r.check_webhook, "whsec-1234", delay=0.3))
    connector = ConnectorFactory(
        tenant=acme, url=receiver.url + "/hook", secret="whsec-1234", event_types=["decision"]
    )
    first = workers()
    recorded_decisions(acme, 20)
    assert wait_until(lambda: receiver.requests >= 4, 60), "the worker did not start delivering"
    first.kill_9()
    delivered_before = len(receiver.keys)
    assert delivered_before < 20
    workers()
    assert wait_until(lambda: _all_sent(connector), 120, step=1)
    _assert_exactly_once_in_order(receiver, connector, allowed_repeats=1)


def test_broker_unreachable_for_a_while_loses_nothing(acme, receivers, broker, workers):
    receiver = receivers(r.Receiver(r.check_webhook, "whsec-1234"))
    connector = ConnectorFactory(
        tenant=acme, url=receiver.url + "/hook", secret="whsec-1234", event_types=["decision"]
    )
    workers()
    recorded_decisions(acme, 3)
    assert wait_until(lambda: len(receiver.keys) == 3, 60)
    broker.stop()
    recorded_decisions(acme, 4)  # committed; queueing fails and is logged; the rows wait
    assert OutboxMessage.objects.filter(destination=connector.destination, status="pending").count() == 4
    broker.start()  # same port: the worker reconnects
    assert wait_until(lambda: _all_sent(connector), 120, step=1)
    _assert_exactly_once_in_order(receiver, connector)
