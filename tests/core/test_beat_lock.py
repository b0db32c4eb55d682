"""One beat schedules: the PostgreSQL advisory lock that gates core.beat.LockedDatabaseScheduler."""

from __future__ import annotations

import random

import psycopg
import pytest
from django.db import connection

from core.beat import BeatLock, LockedDatabaseScheduler, lock_conninfo


@pytest.fixture
def conninfo(db):
    # The test database itself: the lock is server-wide, so a random key keeps parallel runs apart.
    return psycopg.conninfo.make_conninfo(lock_conninfo(), dbname=connection.settings_dict["NAME"])


@pytest.fixture
def key():
    return random.randint(1, 2**62)


def test_only_one_holder_at_a_time_and_the_next_takes_over(conninfo, key):
    first, second = BeatLock(conninfo, key), BeatLock(conninfo, key)
    try:
        assert first.hold() is True
        assert second.hold() is False
        assert first.hold() is True  # still held, checked on the wire
        first.release()
        assert second.hold() is True
        assert first.hold() is False
    finally:
        first.release()
        second.release()


def test_a_dead_holder_loses_the_lock_with_its_session(conninfo, key):
    first, second = BeatLock(conninfo, key), BeatLock(conninfo, key)
    try:
        assert first.hold()
        with psycopg.connect(conninfo, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                " AND ((classid::bigint << 32) | objid::bigint) = %s AND granted",
                [key],
            )
        assert second.hold() is True  # the server dropped the killed session's lock
        assert first.hold() is False  # and the old holder notices on its next check
    finally:
        first.release()
        second.release()


def test_unreachable_lock_database_means_not_scheduling(key):
    lock = BeatLock("host=127.0.0.1 port=1 dbname=x user=postgres connect_timeout=2", key)
    assert lock.hold() is False


def test_a_scheduler_without_the_lock_does_not_tick(conninfo, key, settings):
    from cavra_portal.celery import app

    holder = BeatLock(conninfo, key)
    scheduler = LockedDatabaseScheduler(app=app, lazy=True)
    scheduler.beat_lock = BeatLock(conninfo, key)
    try:
        assert holder.hold()
        assert scheduler.tick() == settings.BEAT_LOCK_RETRY
        assert scheduler.beat_lock.held is False
    finally:
        holder.release()
        scheduler.beat_lock.release()
