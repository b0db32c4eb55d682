"""One Celery beat across the deployment: django-celery-beat's scheduler, gated by a PostgreSQL advisory lock.

Any number of beat processes may run (one per node, for availability); only the one holding the
session advisory lock schedules. The lock lives on its own connection straight to the primary
(BEAT_LOCK_DATABASE_URL, default DATABASE_URL: never through PgBouncer's transaction pooling, where a
session lock would be released to another client). When the holder dies, PostgreSQL drops its
session and the lock with it; a standby beat takes it at its next try (BEAT_LOCK_RETRY seconds) and
re-reads the schedule from the database. A holder whose lock connection breaks stops scheduling at
its next tick; the overlap is at most one tick, and every task is idempotent.
"""

from __future__ import annotations

import logging

import environ
import psycopg
from django.conf import settings
from django_celery_beat.schedulers import DatabaseScheduler

logger = logging.getLogger("cavra.beat")

# pg_try_advisory_lock(bigint) key: the first 8 bytes of sha256("cavra.celery_beat"), fixed here so every
# release agrees on it.
BEAT_LOCK_KEY = 0x6873_33B8_03A5_EA45


def lock_conninfo() -> str:
    """The libpq connection string of the database holding the lock (BEAT_LOCK_DATABASE_URL or default)."""
    if settings.BEAT_LOCK_DATABASE_URL:
        config = environ.Env.db_url_config(settings.BEAT_LOCK_DATABASE_URL)
    else:
        config = settings.DATABASES["default"]
    params = {
        "dbname": config.get("NAME"),
        "user": config.get("USER") or None,
        "password": config.get("PASSWORD") or None,
        "host": config.get("HOST") or None,
        "port": str(config["PORT"]) if config.get("PORT") else None,
        "connect_timeout": "5",
        "application_name": "cavra-beat-lock",
    }
    return psycopg.conninfo.make_conninfo(**{k: v for k, v in params.items() if v is not None})


class BeatLock:
    """A session advisory lock held on a dedicated autocommit connection."""

    def __init__(self, conninfo: str, key: int = BEAT_LOCK_KEY):
        self.conninfo, self.key = conninfo, key
        self._conn: psycopg.Connection | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    def hold(self) -> bool:
        """True while this process holds the lock (checked on the wire); tries to take it otherwise."""
        if self._conn is not None:
            try:
                self._conn.execute("SELECT 1")
                return True
            except psycopg.Error:
                logger.warning("beat: lost the scheduler lock (connection broken); scheduling stops")
                self._drop()
        try:
            conn = psycopg.connect(self.conninfo, autocommit=True)
        except psycopg.Error:
            logger.warning("beat: the lock database is unreachable; not scheduling")
            return False
        try:
            (taken,) = conn.execute("SELECT pg_try_advisory_lock(%s)", [self.key]).fetchone()
        except psycopg.Error:
            conn.close()
            return False
        if not taken:
            conn.close()
            return False
        self._conn = conn
        logger.info("beat: took the scheduler lock; this beat schedules")
        return True

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute("SELECT pg_advisory_unlock(%s)", [self.key])
            except psycopg.Error:
                pass
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:
                pass


class LockedDatabaseScheduler(DatabaseScheduler):
    """DatabaseScheduler that schedules only while it holds the deployment-wide beat lock."""

    def __init__(self, *args, **kwargs):
        self.beat_lock = BeatLock(lock_conninfo())
        super().__init__(*args, **kwargs)

    def tick(self, *args, **kwargs):
        was_leader = self.beat_lock.held
        if not self.beat_lock.hold():
            return settings.BEAT_LOCK_RETRY
        if not was_leader:
            # Another beat ran the schedule until now: start from what it recorded, not from our memory.
            self._initial_read = True
            self._heap = None
        return super().tick(*args, **kwargs)

    def close(self):
        try:
            super().close()
        finally:
            self.beat_lock.release()
