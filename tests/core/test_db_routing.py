"""The replica router: opt-in reads only, writes and transactions on the primary, fallback when not fresh.

A real streaming replica is exercised by the cluster drills (tests/cluster/, `make test-cluster`);
here the "replica" alias points at servers that are not a fresh standby, so every read must fall back.
"""

from __future__ import annotations

import copy

import pytest
from django.db import connections, transaction

from core import db_routing
from core.db_routing import REPLICA_ALIAS, ReplicaRouter, replica_reads, replica_state
from tenants.models import Tenant

router = ReplicaRouter()


@pytest.fixture
def replica_alias(settings, django_db_setup, django_db_blocker):
    """Adds a "replica" alias (to the test database, or elsewhere) for one test, then removes it.

    Outside pytest-django's per-test transaction on purpose: an alias added mid-test is refused by
    Django's test case, and nothing here writes."""
    added = []

    def add(**overrides):
        config = copy.deepcopy(connections.settings["default"])
        config.update(overrides)
        config["TEST"] = {"MIRROR": "default"}
        settings.DATABASES = {**settings.DATABASES, REPLICA_ALIAS: config}
        connections.settings[REPLICA_ALIAS] = config
        db_routing._last_check.clear()
        added.append(True)

    with django_db_blocker.unblock():
        yield add
    if added:
        connections[REPLICA_ALIAS].close()
        del connections.settings[REPLICA_ALIAS]
        del connections[REPLICA_ALIAS]
    db_routing._last_check.clear()


def test_without_a_replica_every_read_stays_on_the_primary():
    with replica_reads():
        assert router.db_for_read(Tenant) is None
    assert replica_state() == "not_configured"


def test_a_server_that_is_not_a_standby_is_never_read(replica_alias):
    replica_alias()  # the primary itself: pg_is_in_recovery() is false, as after a promotion
    with replica_reads():
        assert router.db_for_read(Tenant) is None
    assert replica_state() == "not_a_standby"


def test_an_unreachable_replica_sends_reads_to_the_primary(replica_alias):
    replica_alias(HOST="127.0.0.1", PORT=1, OPTIONS={"connect_timeout": 2})
    with replica_reads():
        assert router.db_for_read(Tenant) is None
        assert Tenant.objects.filter(pk=-1).count() == 0  # served by the primary, no error
    assert replica_state() == "unreachable"


def test_reads_outside_the_opt_in_never_ask_the_replica(replica_alias):
    replica_alias(HOST="127.0.0.1", PORT=1)
    assert router.db_for_read(Tenant) is None
    assert db_routing._last_check == {}  # not even probed


def test_inside_a_transaction_reads_stay_on_the_primary(replica_alias):
    replica_alias(HOST="127.0.0.1", PORT=1)
    with transaction.atomic(), replica_reads():
        assert router.db_for_read(Tenant) is None
    assert db_routing._last_check == {}


def test_writes_always_go_to_the_primary_even_for_a_row_read_elsewhere():
    tenant = Tenant(name="x")
    tenant._state.db = REPLICA_ALIAS
    assert router.db_for_write(Tenant, instance=tenant) == "default"
    assert router.allow_migrate(REPLICA_ALIAS, "tenants") is False
    assert router.allow_migrate("default", "tenants") is True


def test_the_opt_in_is_scoped_to_its_block():
    @replica_reads()
    def inside():
        return db_routing._reads_on_replica.get()

    assert inside() is True
    assert db_routing._reads_on_replica.get() is False
