"""In Chromium: the agents list sorts in place through htmx keeping its filters, exports what it shows,
and fits the window at 1,440 px and at 390 px (a table scrolls inside its own .table-scroll)."""

from __future__ import annotations

import pytest

from tenants.demo import seed_foundation
from tests.browser.conftest import login
from tests.factories import AgentFactory, ApprovalRequestFactory

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


def _fits(page, width: int) -> None:
    widths = page.evaluate(
        "({doc: document.documentElement.scrollWidth, body: document.body.scrollWidth,"
        " view: window.innerWidth})"
    )
    assert widths["view"] == width and widths["doc"] <= width and widths["body"] <= width, widths


def test_history_and_evidence_tables_sort_filter_and_fit_desktop_and_phone(page, live_server):
    tenants = seed_foundation()
    acme = tenants["acme"]
    for i, name in enumerate(("bravo-bot", "alpha-bot", "charlie-bot")):
        ApprovalRequestFactory(
            agent=AgentFactory(tenant=acme, name=name),
            action="shell_exec",
            target=f"make deploy TARGET=/srv/a-very-long-path-{i}/" + "x" * 180,
            repository="github.com/acme/a-very-long-repository-name-for-the-web-frontend",
        )
    ApprovalRequestFactory(agent=AgentFactory(tenant=acme, name="api-bot"), repository="acme/api")
    login(page, live_server, "tenant_admin@acme.test")

    for width in (1440, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/approvals/history/?repository=acme/a-very")
        with page.expect_response(
            lambda r: "sort=agent" in r.url and r.request.headers.get("hx-request") == "true"
        ):
            page.locator("th a[data-sort='agent']").click()
        page.wait_for_function("document.querySelector('th[aria-sort=ascending]') !== null")
        agents = page.locator("tr[data-approval] td:nth-child(3)").all_inner_texts()
        assert agents == ["alpha-bot", "bravo-bot", "charlie-bot"]
        assert "repository=acme" in page.url and "sort=agent" in page.url
        assert page.locator("tr[data-approval] .badge").first.inner_text() == "Pending"  # a word, not a slug
        _fits(page, width)
        # Widening the filter keeps the sort.
        with page.expect_response(lambda r: "sort=agent" in r.url and "repository=&" in r.url + "&"):
            page.fill("#id_repository", "")
            page.locator("#history-filters button[type=submit]").click()
        page.locator("tr[data-approval]").nth(3).wait_for()
        assert page.locator("tr[data-approval] td:nth-child(3)").all_inner_texts()[0] == "alpha-bot"
        export = page.get_by_test_id("export-csv").get_attribute("href")
        assert export.startswith("/approvals/history/export.csv?") and "sort=agent" in export

        page.goto(f"{live_server.url}/evidence/?sort=-kind")
        page.locator("tr[data-record]").first.wait_for()
        kinds = page.locator("tr[data-record] td:nth-child(3)").all_inner_texts()
        assert kinds == sorted(kinds, reverse=True) and len(kinds) > 3
        assert page.locator("th[aria-sort=descending] a[data-sort='kind']").count() == 1
        _fits(page, width)
    assert page.console_errors == []
