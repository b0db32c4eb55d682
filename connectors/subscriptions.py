"""Which connectors of a tenant listen, cached so that the fact listener costs no query per record.

`connectors_hear` runs for every evidence record appended (it sits on the decision path). What it
needs of a tenant's connectors — pk, event types, threshold, redaction of the enabled ones — changes
rarely, so it is kept in the shared cache (Redis) per tenant, filled on first use.

Invalidation is exact: every save or delete of a Connector (service, admin, shell) drops the tenant's
entry at once and again when the transaction commits, so a reader that refilled it from the old rows
while the change was uncommitted cannot keep them. Queryset `.update()` bypasses the signals; the
only one (connectors.delivery) writes health columns the listener does not read.

A cache outage costs the query it saves, never the fact. The key names the database (and its oid), so
test workers, test runs and deployments that share one Redis never see each other's tenants.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models.signals import post_delete, post_save

from connectors.models import Connector

logger = logging.getLogger(__name__)

CACHE_SECONDS = 3600


@dataclass(frozen=True)
class Subscription:
    """What the listener needs of one enabled connector."""

    pk: int
    event_types: tuple[str, ...]
    min_severity: str
    redaction: str
    enabled: bool = True

    @property
    def destination(self) -> str:
        return f"connector:{self.pk}"


# database name -> "name.oid": looked up once per process and database.
_databases: dict[str, str] = {}


def _database() -> str:
    """The database's name and, on PostgreSQL, its oid: a database created again under the same name
    (each test run, a restore) never reads the entries its predecessor left in Redis."""
    name = str(connection.settings_dict["NAME"])
    if name not in _databases:
        identity = name
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT oid FROM pg_database WHERE datname = current_database()")
                identity = f"{name}.{cursor.fetchone()[0]}"
        _databases[name] = identity
    return _databases[name]


def _key(tenant_id: int) -> str:
    return f"cavra:connectors:subscriptions:{_database()}:{tenant_id}"


def _load(tenant_id: int) -> tuple[Subscription, ...]:
    rows = Connector.objects.filter(tenant_id=tenant_id, enabled=True).order_by("pk")
    return tuple(
        Subscription(pk, tuple(event_types or ()), min_severity, redaction)
        for pk, event_types, min_severity, redaction in rows.values_list(
            "pk", "event_types", "min_severity", "redaction"
        )
    )


def subscriptions_for(tenant_id: int) -> tuple[Subscription, ...]:
    """The tenant's enabled connectors, from the cache when it has them."""
    key = _key(tenant_id)
    try:
        cached = cache.get(key)
    except Exception:  # noqa: BLE001 - a cache outage costs a query, it never loses a fact
        logger.warning("cache unavailable while reading %s", key)
        return _load(tenant_id)
    if cached is not None:
        return cached
    subscriptions = _load(tenant_id)
    try:
        cache.set(key, subscriptions, CACHE_SECONDS)
    except Exception:  # noqa: BLE001
        logger.warning("cache unavailable while writing %s", key)
    return subscriptions


def subscriptions_forget(tenant_id: int) -> None:
    key = _key(tenant_id)

    def forget():
        try:
            cache.delete(key)
        except Exception:  # noqa: BLE001 - the entry then lives CACHE_SECONDS at most
            logger.error("cache unavailable: connector subscriptions of tenant %s may stay stale", tenant_id)

    forget()
    transaction.on_commit(forget)


def _connector_changed(sender, instance: Connector, **kwargs) -> None:
    subscriptions_forget(instance.tenant_id)


def subscriptions_watch() -> None:
    """Called from ConnectorsConfig.ready()."""
    post_save.connect(_connector_changed, sender=Connector, dispatch_uid="connectors.subscriptions.save")
    post_delete.connect(_connector_changed, sender=Connector, dispatch_uid="connectors.subscriptions.delete")
