"""Liveness and readiness for a load balancer: /healthz (the process answers) and /readyz (it can serve).

Both are public, plain JSON, and name only states ("ok", "unreachable", "pending"), never a host, a
URL or an exception text. Readiness asks the primary database (SELECT 1), whether every migration
this code knows is applied (a new release is not ready until `migrate` ran), and the shared cache
(Redis: sessions, rate limits and idempotency keys live there, so an instance without it would answer
differently from its peers). The read replica is reported but never makes an instance unready: reads
fall back to the primary (core.db_routing).
"""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.db_routing import REPLICA_ALIAS, replica_state

logger = logging.getLogger("cavra.health")

# Once this process has seen every migration applied it stays so: a schema is never un-migrated under
# running code, and the migration graph is too costly to load on every probe.
_migrations_applied = False


def _database_state() -> str:
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except DatabaseError:
        logger.warning("readiness: the primary database is unreachable", exc_info=True)
        return "unreachable"


def _migrations_state() -> str:
    global _migrations_applied
    if _migrations_applied:
        return "ok"
    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError:
        return "unknown"
    if pending:
        return "pending"
    _migrations_applied = True
    return "ok"


def _cache_state() -> str:
    key = f"cavra:ready:{uuid.uuid4().hex}"
    try:
        cache.set(key, "1", 5)
        seen = cache.get(key)
        cache.delete(key)
    except Exception:  # noqa: BLE001 - any client error means the shared cache cannot be used
        logger.warning("readiness: the cache is unreachable", exc_info=True)
        return "unreachable"
    return "ok" if seen == "1" else "unreachable"


@never_cache
@require_GET
def liveness(request):
    """The process is up and answers; no dependency is asked (a restart would not fix them)."""
    return JsonResponse({"status": "alive"})


@never_cache
@require_GET
def readiness(request):
    """200 when this instance can serve requests, 503 (with what is missing) when it cannot."""
    checks = {"database": _database_state()}
    checks["migrations"] = _migrations_state() if checks["database"] == "ok" else "unknown"
    checks["cache"] = _cache_state()
    checks["replica"] = replica_state() if REPLICA_ALIAS in settings.DATABASES else "not_configured"
    ready = checks["database"] == "ok" and checks["migrations"] == "ok" and checks["cache"] == "ok"
    return JsonResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks}, status=200 if ready else 503
    )
