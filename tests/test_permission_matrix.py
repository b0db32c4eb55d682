"""Walks every URL of the project against the permission matrix in tests/permission_matrix/."""

from __future__ import annotations

import itertools
import json

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from core.roles import ALL_ROLES
from tenants.models import Tenant, User
from tests.factories import MemberFactory, TenantFactory, UserFactory
from tests.permission_matrix import COVERED_ELSEWHERE, Entry, all_entries
from tests.support.clients import logged_in

ENTRIES = all_entries()
_seq = itertools.count()


def _named_patterns(resolver: URLResolver | None = None, namespace: str = "") -> set[str]:
    names: set[str] = set()
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            ns = namespace
            if pattern.namespace:
                ns = f"{namespace}{pattern.namespace}:"
            names |= _named_patterns(pattern, ns)
        elif isinstance(pattern, URLPattern):
            names.add(
                f"{namespace}{pattern.name}" if pattern.name else f"{namespace}<unnamed {pattern.pattern}>"
            )
    return names


def test_every_url_is_declared_in_the_matrix():
    declared = {e.url_name for e in ENTRIES}
    undeclared = sorted(
        name
        for name in _named_patterns()
        if name not in declared and not any(name.startswith(prefix) for prefix in COVERED_ELSEWHERE)
    )
    assert not undeclared, f"URLs missing from tests/permission_matrix/: {undeclared}"


def test_matrix_declares_no_url_that_does_not_exist():
    existing = _named_patterns()
    assert not sorted({e.url_name for e in ENTRIES} - existing)


class Ctx:
    def __init__(self, tenant: Tenant, other: Tenant):
        self.tenant = tenant
        self.other = other

    def seq(self) -> int:
        return next(_seq)

    def member(self, *roles: str, tenant: Tenant | None = None) -> User:
        return MemberFactory(tenant=tenant or self.tenant, roles=roles or ALL_ROLES)


def _request(entry: Entry, ctx: Ctx, user: User | None, tenant: Tenant | None):
    client = logged_in(user, tenant)
    kwargs = entry.kwargs(ctx) if entry.kwargs else {}
    url = reverse(entry.url_name, kwargs=kwargs) + entry.query
    data = entry.data(ctx) if callable(entry.data) else (entry.data or {})
    if entry.method == "GET":
        return client.get(url, data)
    if entry.content_type == "application/json" or (entry.api and entry.method != "GET"):
        return client.generic(entry.method, url, json.dumps(data), content_type="application/json")
    return getattr(client, entry.method.lower())(url, data)


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_permission_matrix(entry: Entry, db):
    acme = TenantFactory(slug="acme", name="Acme")
    globex = TenantFactory(slug="globex", name="Globex")
    ctx = Ctx(acme, globex)
    if entry.setup:
        entry.setup(ctx)

    anonymous = _request(entry, ctx, None, None)
    if entry.public:
        assert anonymous.status_code in entry.ok, f"anonymous should reach public {entry.id}"
        return
    if entry.api:
        assert anonymous.status_code in (401, 403), f"anonymous on {entry.id}: {anonymous.status_code}"
    else:
        assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"], (
            f"anonymous on {entry.id}: {anonymous.status_code}"
        )

    if entry.agent_only:
        response = _request(entry, ctx, ctx.member(*ALL_ROLES), acme)
        assert response.status_code in (401, 403), (
            f"a human member on agent-only {entry.id}: {response.status_code}"
        )
        return

    if entry.platform_only:
        response = _request(entry, ctx, ctx.member(*ALL_ROLES), acme)
        assert response.status_code == 403, f"a tenant member on platform {entry.id}: {response.status_code}"
        superuser = UserFactory(email="platform@example.test", is_superuser=True, is_staff=True)
        response = _request(entry, ctx, superuser, None)
        assert response.status_code in entry.ok, f"superuser on {entry.id}: {response.status_code}"
        return

    if entry.kwargs and not entry.extra.get("no_other_tenant_check"):
        outsider = ctx.member(*ALL_ROLES, tenant=globex)
        response = _request(entry, ctx, outsider, globex)
        assert response.status_code == 404, f"other tenant on {entry.id}: {response.status_code}"

    if entry.roles:
        others = [r for r in ALL_ROLES if r not in entry.roles]
        if others:
            wrong = ctx.member(*others)
            response = _request(entry, ctx, wrong, acme)
            assert response.status_code == 403, f"roles {others} on {entry.id}: {response.status_code}"

    for role in entry.roles or ALL_ROLES[:1]:
        response = _request(entry, ctx, ctx.member(role), acme)
        assert response.status_code in entry.ok, (
            f"role {role} on {entry.id}: {response.status_code} {response.content[:300]!r}"
        )
