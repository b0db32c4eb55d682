"""In Chromium: the agents list sorts in place through htmx keeping its filters, exports what it shows,
and fits the window at 1,440 px and at 390 px (a table scrolls inside its own .table-scroll)."""

from __future__ import annotations

import pytest

from tenants.demo import seed_foundation
from tests.browser.conftest import login
from tests.factories import AgentFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _names(page) -> list[str]:
    return page.locator("tr[data-agent]").evaluate_all("rows => rows.map(r => r.dataset.agent)")


def test_agents_table_sorts_in_place_and_fits_desktop_and_phone(page, live_server):
    tenants = seed_foundation()
    for i, name in enumerate(("bravo-agent", "alpha-agent", "charlie-agent")):
        AgentFactory(
            tenant=tenants["acme"],
            name=name,
            profile="codex",
            description="a long description " * 20,
            allowed_repositories=[f"github.com/acme/a-very-long-repository-name-number-{i}" * 2],
        )
    AgentFactory(tenant=tenants["acme"], name="docs-reader", profile="read-only")
    login(page, live_server, "tenant_admin@acme.test")

    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/registry/agents/?profile=codex")
    with page.expect_response(
        lambda r: "sort=name" in r.url and r.request.headers.get("hx-request") == "true"
    ):
        page.locator("th a[data-sort='name']").click()
    page.wait_for_function("document.querySelector('th[aria-sort]') !== null")
    assert _names(page) == ["alpha-agent", "bravo-agent", "charlie-agent"]
    assert "profile=codex" in page.url and "sort=name" in page.url  # filter kept, sort in the address
    with page.expect_response(lambda r: "sort=-name" in r.url):
        page.locator("th a[data-sort='name']").click()
    page.wait_for_function("document.querySelector('th[aria-sort=descending]') !== null")
    assert _names(page) == ["charlie-agent", "bravo-agent", "alpha-agent"]
    export = page.get_by_test_id("export-csv").get_attribute("href")
    assert (
        export.startswith("/registry/agents/export.csv?")
        and "profile=codex" in export
        and "sort=-name" in export
    )
    # Changing a filter keeps the sort (the table region carries it into the filter form).
    with page.expect_response(lambda r: "sort=-name" in r.url and "profile=&" in r.url + "&"):
        page.select_option("#f-profile", "")
    page.locator("tr[data-agent='docs-reader']").wait_for()
    assert _names(page) == ["docs-reader", "charlie-agent", "bravo-agent", "alpha-agent"]
    assert page.evaluate("document.documentElement.scrollWidth") <= 1440

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/registry/agents/")
    page.locator("tr[data-agent='docs-reader']").wait_for()
    widths = page.evaluate(
        "({doc: document.documentElement.scrollWidth, body: document.body.scrollWidth,"
        " view: window.innerWidth})"
    )
    assert widths["doc"] <= widths["view"] and widths["body"] <= widths["view"], widths
    assert page.locator("#agents-table .table-scroll table").count() == 1
    assert page.console_errors == []
