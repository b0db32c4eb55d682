"""Every page that answers htmx with a fragment says so in `Vary`, so no cache mixes the two bodies."""

from __future__ import annotations

import pytest
from django.urls import reverse

from core.roles import ALL_ROLES, Role
from tests.factories import DecisionFactory, MemberFactory, TenantFactory
from tests.permission_matrix import all_entries
from tests.support.clients import logged_in
from tests.test_permission_matrix import Ctx

pytestmark = pytest.mark.django_db

PAGES = [e for e in all_entries() if e.method == "GET" and not e.api and not e.public]


def _vary(response) -> set[str]:
    return {part.strip() for part in response.get("Vary", "").split(",") if part.strip()}


def test_activity_page_varies_on_hx_request(acme, member, client_as):
    DecisionFactory(tenant=acme, target="a.py")
    client = client_as(member(acme, Role.SECURITY_REVIEWER), acme)
    page = client.get("/policies/activity/")
    fragment = client.get("/policies/activity/", HTTP_HX_REQUEST="true")
    assert b"<html" in page.content and b"<html" not in fragment.content
    assert "HX-Request" in _vary(page) and "HX-Request" in _vary(fragment)


def test_a_page_that_never_looks_at_htmx_does_not_vary_on_it(acme, member, client_as):
    client = client_as(member(acme, Role.AUDITOR), acme)
    response = client.get(reverse("evidence:trust-root"))
    assert response.status_code == 200 and "HX-Request" not in _vary(response)


@pytest.mark.parametrize("entry", PAGES, ids=[e.id for e in PAGES])
def test_every_page_with_a_fragment_varies_on_hx_request(entry):
    acme, globex = TenantFactory(slug="acme"), TenantFactory(slug="globex")
    ctx = Ctx(acme, globex)
    if entry.setup:
        entry.setup(ctx)
    client = logged_in(MemberFactory(tenant=acme, roles=entry.roles[:1] or ALL_ROLES[:1]), acme)
    url = reverse(entry.url_name, kwargs=entry.kwargs(ctx) if entry.kwargs else {}) + entry.query
    plain, htmx = client.get(url), client.get(url, HTTP_HX_REQUEST="true")
    assert plain.status_code == 200, plain.status_code
    answers_a_fragment = (b"<html" in plain.content) != (b"<html" in htmx.content)
    if answers_a_fragment or plain.status_code != htmx.status_code:
        assert "HX-Request" in _vary(plain) and "HX-Request" in _vary(htmx), (
            f"{entry.url_name} answers htmx differently but does not say Vary: HX-Request"
        )
