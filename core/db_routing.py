"""Reads that may go to a streaming replica: an explicit opt-in, a bounded staleness check, the primary as fallback.

Nothing reads from the replica unless its code says so (`with replica_reads():` or `@replica_reads()`
around a read-only selector: dashboards, AISPM, reports, exports). The decision path, every service
and everything inside a transaction on the primary keep reading the primary, so a write never acts
on what a replica has not replayed yet.

The replica is used only while it is fresh: still a standby (a promoted replica is a diverging
primary, never a read source) and either fully caught up with the primary's WAL (LSN compare) or
its last replayed commit no older than REPLICA_MAX_LAG_SECONDS. The answer is kept for
REPLICA_CHECK_INTERVAL seconds per process, so the bound a reader sees is the two added together.
A replica that is unreachable, lagging or promoted sends the reads back to the primary.
"""

from __future__ import annotations

import logging
import time
from contextlib import ContextDecorator
from contextvars import ContextVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

logger = logging.getLogger("cavra.replica")

REPLICA_ALIAS = "replica"
_reads_on_replica: ContextVar[bool] = ContextVar("cavra_reads_on_replica", default=False)
_last_check: dict[str, tuple[float, str]] = {}


class replica_reads(ContextDecorator):  # noqa: N801 - used like a function: `with replica_reads():`
    """Within this block (or decorated function), reads may be served by the replica when it is fresh."""

    def _recreate_cm(self):
        return type(self)()  # a decorated function may run in several threads at once: a token each

    def __enter__(self):
        self._token = _reads_on_replica.set(True)
        return self

    def __exit__(self, *exc):
        _reads_on_replica.reset(self._token)
        return False


def _forget_connection(alias: str) -> None:
    try:
        connections[alias].close()
    except DatabaseError:
        pass


def _measure() -> str:
    try:
        with connections[REPLICA_ALIAS].cursor() as cursor:
            cursor.execute(
                "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text,"
                " EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8"
            )
            in_recovery, replay_lsn, replay_age = cursor.fetchone()
    except DatabaseError:
        logger.warning("the read replica is unreachable; reads go to the primary")
        _forget_connection(REPLICA_ALIAS)
        return "unreachable"
    if not in_recovery or replay_lsn is None:
        logger.warning("the read replica is not a standby (promoted?); reads go to the primary")
        return "not_a_standby"
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)::float8", [replay_lsn])
            (lag_bytes,) = cursor.fetchone()
    except DatabaseError:
        # Without the primary's position there is no bound to compare with: stay on the primary.
        return "unknown"
    if lag_bytes <= 0:
        return "ok"
    if replay_age is not None and replay_age <= settings.REPLICA_MAX_LAG_SECONDS:
        return "ok"
    return "lagging"


def replica_state(*, max_age: float | None = None) -> str:
    """ "ok", "lagging", "unreachable", "not_a_standby", "unknown" or "not_configured" (cached briefly)."""
    if REPLICA_ALIAS not in settings.DATABASES:
        return "not_configured"
    max_age = settings.REPLICA_CHECK_INTERVAL if max_age is None else max_age
    now = time.monotonic()
    checked = _last_check.get(REPLICA_ALIAS)
    if checked is not None and now - checked[0] < max_age:
        return checked[1]
    state = _measure()
    _last_check[REPLICA_ALIAS] = (now, state)
    return state


class ReplicaRouter:
    """DATABASE_ROUTERS entry: replica reads only when opted in, outside transactions, and fresh."""

    def db_for_read(self, model, **hints):
        if not _reads_on_replica.get() or REPLICA_ALIAS not in settings.DATABASES:
            return None
        if connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return None  # a transaction on the primary must read what it (and its peers) just wrote
        return REPLICA_ALIAS if replica_state() == "ok" else None

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the replica holds the same rows as the primary

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS
