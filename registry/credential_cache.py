"""Agent token -> credential -> agent -> tenant, cached in process and checked by one cheap read.

Building the three models from the token lookup cost more Python than the rest of authentication.
A cache entry keeps them, with the tenant's `policy_generation` they were read at; every request
reads that generation again (`SELECT policy_generation FROM tenants_tenant WHERE id = …`, a primary
key lookup, autocommit, so it sees everything committed before it) and uses the entry only while it
is unchanged. Database triggers (registry migration 0004) bump the generation in the same
transaction as any change to a credential, an agent or the tenant row, whichever process makes it,
so a revoked, rotated or deleted token, a retired or suspended agent and a lapsed entitlement count
on the very next request. Expiry needs no invalidation: it is compared with the clock every time.

Only on PostgreSQL (where the triggers exist); elsewhere every request reads the credential fresh.
"""

from __future__ import annotations

import threading

from django.db import connection

from core.metrics import cache_lookup_observed
from tenants.models import Tenant

_GENERATION = f"SELECT policy_generation FROM {Tenant._meta.db_table} WHERE id = %s"
CACHE_SIZE = 10_000

# token hash -> (tenant id, generation, credential with .agent and .agent.tenant)
_entries: dict[str, tuple[int, int, object]] = {}
_lock = threading.Lock()


def cache_enabled() -> bool:
    return connection.vendor == "postgresql"


def tenant_generation(tenant_id: int) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(_GENERATION, [tenant_id])
        row = cursor.fetchone()
    return row[0] if row else None


def credential_cached(digest: str, load):
    """The credential for `digest`, from the cache while its tenant's generation holds, else `load(digest)`."""
    if not cache_enabled():
        return load(digest)
    entry = _entries.get(digest)
    if entry is not None:
        tenant_id, generation, credential = entry
        if tenant_generation(tenant_id) == generation:
            cache_lookup_observed("agent_credential", hit=True)
            return credential
    cache_lookup_observed("agent_credential", hit=False)
    credential = load(digest)
    with _lock:
        if credential is None:
            _entries.pop(digest, None)
            return None
        if len(_entries) >= CACHE_SIZE:
            _entries.clear()
        tenant = credential.agent.tenant
        _entries[digest] = (tenant.pk, tenant.policy_generation, credential)
    return credential


def credential_cache_clear() -> None:
    with _lock:
        _entries.clear()
