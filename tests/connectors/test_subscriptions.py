"""The connector listener reads the tenant's connectors from a cache that every change drops at once."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from connectors.models import Connector
from connectors.services.connectors import connector_delete
from connectors.subscriptions import subscriptions_for
from core.models import OutboxMessage
from tests.factories import ConnectorFactory, decision_recorded, session_opened

pytestmark = pytest.mark.django_db


def _decide(tenant, session, n=1):
    for i in range(n):
        decision_recorded(tenant, session, action="read_file", target=f"f{i}.py", decision="allow")


def _sent_to(connector) -> int:
    return OutboxMessage.objects.filter(destination=connector.destination).count()


def _connector_queries(ctx) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries if '"connectors_connector"' in q["sql"]]


def test_facts_of_a_tenant_read_its_connectors_once(acme):
    connector = ConnectorFactory(tenant=acme, event_types=["decision"])
    session = session_opened(acme)
    _decide(acme, session)  # fills the cache
    with CaptureQueriesContext(connection) as ctx:
        _decide(acme, session, n=5)
    assert _connector_queries(ctx) == []
    assert _sent_to(connector) == 6


def test_a_new_connector_hears_the_next_fact(acme):
    session = session_opened(acme)
    _decide(acme, session)
    assert subscriptions_for(acme.pk) == ()
    connector = ConnectorFactory(tenant=acme, event_types=["decision"])
    _decide(acme, session)
    assert _sent_to(connector) == 1


def test_a_disabled_or_retargeted_connector_is_seen_at_once(acme):
    connector = ConnectorFactory(tenant=acme, event_types=["decision"])
    session = session_opened(acme)
    _decide(acme, session)
    assert _sent_to(connector) == 1
    connector.enabled = False
    connector.save()
    _decide(acme, session)
    assert _sent_to(connector) == 1
    connector.enabled = True
    connector.event_types = ["finding"]
    connector.save()
    _decide(acme, session)
    assert _sent_to(connector) == 1
    connector.event_types = ["decision"]
    connector.save()
    _decide(acme, session)
    assert _sent_to(connector) == 2


def test_a_deleted_connector_hears_nothing(acme, member):
    connector = ConnectorFactory(tenant=acme, event_types=["decision"])
    session = session_opened(acme)
    _decide(acme, session)
    assert [s.pk for s in subscriptions_for(acme.pk)] == [connector.pk]
    connector_delete(connector=connector, actor=member(acme, "tenant_admin"))
    assert subscriptions_for(acme.pk) == ()


def test_a_change_of_one_tenant_leaves_the_other_cached(acme, globex):
    ConnectorFactory(tenant=acme, event_types=["decision"])
    mine = ConnectorFactory(tenant=globex, event_types=["decision"])
    assert [s.pk for s in subscriptions_for(globex.pk)] == [mine.pk]
    ConnectorFactory(tenant=acme, event_types=["finding"])
    with CaptureQueriesContext(connection) as ctx:
        assert [s.pk for s in subscriptions_for(globex.pk)] == [mine.pk]
    assert _connector_queries(ctx) == []


def test_a_cache_outage_costs_a_query_not_the_fact(acme, monkeypatch):
    connector = ConnectorFactory(tenant=acme, event_types=["decision"])

    def down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(cache, "get", down)
    monkeypatch.setattr(cache, "set", down)
    _decide(acme, session_opened(acme), n=2)
    assert _sent_to(connector) == 2
    assert Connector.objects.filter(tenant=acme).count() == 1


def test_the_key_names_the_database_and_its_incarnation():
    """A test database (or a restore) created again under the same name gets other keys."""
    from connectors.subscriptions import _key

    with connection.cursor() as cursor:
        cursor.execute("SELECT oid FROM pg_database WHERE datname = current_database()")
        oid = cursor.fetchone()[0]
    assert f"{connection.settings_dict['NAME']}.{oid}:7" in _key(7)
