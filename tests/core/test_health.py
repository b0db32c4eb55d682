"""The balancer's probes: /healthz (the process answers) and /readyz (database, migrations, cache)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.test import Client, override_settings

from core import health

UNREACHABLE_REDIS = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
}


def test_liveness_answers_without_asking_any_dependency():
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readiness_reports_each_dependency_and_no_secret(settings):
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "cache": "ok", "replica": "not_configured"},
    }
    body = response.content.decode()
    for secret in (settings.DATABASES["default"]["NAME"], settings.REDIS_URL, "127.0.0.1", "postgres"):
        assert secret not in body


@pytest.mark.django_db
def test_readiness_is_503_when_the_shared_cache_is_down():
    with override_settings(CACHES=UNREACHABLE_REDIS):
        response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "not_ready"
    assert response.json()["checks"]["cache"] == "unreachable"
    assert response.json()["checks"]["database"] == "ok"


@pytest.mark.django_db
def test_readiness_is_503_while_a_migration_is_not_applied(monkeypatch):
    monkeypatch.setattr(health, "_migrations_applied", False)  # this process has not seen them all yet
    # The newest migration of an app (a leaf of the graph): an older one with its successors applied
    # would not make the plan pending.
    app, name = next(node for node in MigrationLoader(connection).graph.leaf_nodes() if node[0] == "core")
    with connection.cursor() as cursor:  # rolled back with the test
        cursor.execute("DELETE FROM django_migrations WHERE app = %s AND name = %s", [app, name])
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] == "pending"


def test_the_probes_are_never_redirected_to_https(settings):
    settings.SECURE_SSL_REDIRECT = True
    assert Client().get("/healthz").status_code == 200
    assert Client().get("/tenants/", secure=False).status_code == 301


def test_probes_refuse_writes():
    assert Client().post("/healthz").status_code == 405
