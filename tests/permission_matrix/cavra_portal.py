"""Project-level URLs: the balancer's liveness and readiness probes (public, no tenant data) and metrics."""

from tests.permission_matrix import Entry

ENTRIES = [
    Entry("healthz", public=True, note="liveness for the load balancer: says only that the process answers"),
    Entry(
        "readyz", public=True, note="readiness: states of database, migrations, cache, replica; no secrets"
    ),
    Entry(
        "metrics",
        api=True,
        platform_only=True,
        note="Prometheus: superuser session or METRICS_TOKEN bearer (tests/policies/test_metrics.py)",
    ),
]
