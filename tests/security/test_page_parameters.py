"""Pages take query parameters too (filters, paging): malformed values are never a 500. The names
are every query parameter the API declares plus the pages' own paging names."""

from __future__ import annotations

from django.urls import reverse

from core.roles import ALL_ROLES
from tests.permission_matrix import all_entries
from tests.security.openapi import operations

NAMES = sorted(
    {name for op in operations() for name, _ in op.query} | {"page", "before", "after", "v", "tab"}
)
VALUES = [
    "2026-13-45T99:00",
    "0316-07-11T08:53:51-21:55",
    "0001-01-01T00:00:00+05:00",
    "x" * 3000,
    "-1",
    "9" * 40,
    "💥",
    "[]",
    "%00"[1:],
]


def test_malformed_query_values_on_every_page_are_never_a_500(acme, member, client_as):
    client = client_as(member(acme, *ALL_ROLES), acme)
    pages = [e for e in all_entries() if e.method == "GET" and not e.api and not e.kwargs and not e.public]
    failures = []
    for entry in pages:
        url = reverse(entry.url_name)
        # Every name at once per value (one request each): the suite stays fast on a shared machine.
        for value in VALUES:
            response = client.get(url, dict.fromkeys(NAMES, value))
            if response.status_code >= 500:
                failures.append(f"{url} with every parameter = {value[:20]!r} -> {response.status_code}")
    assert not failures, "\n".join(failures)
