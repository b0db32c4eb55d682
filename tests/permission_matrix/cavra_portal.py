"""Project-level URLs: the balancer's liveness and readiness probes (public, no tenant data)."""

from tests.permission_matrix import Entry

ENTRIES = [
    Entry("healthz", public=True, note="liveness for the load balancer: says only that the process answers"),
    Entry(
        "readyz", public=True, note="readiness: states of database, migrations, cache, replica; no secrets"
    ),
]
