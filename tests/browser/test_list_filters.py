"""In Chromium: list filters narrow in place through htmx, and a bad value is shown beside its field."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tenants.demo import seed_foundation
from tests.browser.conftest import login
from tests.factories import AgentFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def test_agents_filter_in_place_and_bad_history_date_is_explained(page, live_server):
    tenants = seed_foundation()
    AgentFactory(tenant=tenants["acme"], name="codex-nightly", profile="codex")
    AgentFactory(tenant=tenants["acme"], name="docs-reader", profile="read-only")
    login(page, live_server, "tenant_admin@acme.test")

    page.goto(f"{live_server.url}/registry/agents/")
    with page.expect_response(lambda r: "/registry/agents/?" in r.url):
        page.select_option("#f-profile", "read-only")
    page.locator("tr[data-agent='docs-reader']").wait_for()
    assert page.locator("tr[data-agent='codex-nightly']").count() == 0
    assert "profile=read-only" in page.url  # hx-push-url: the filtered list has its own address

    response = page.goto(f"{live_server.url}/approvals/history/?until=2026-02-30")
    assert response.status == 400
    summary = page.get_by_test_id("filter-errors")
    assert summary.is_visible() and summary.get_attribute("role") == "alert"
    assert "until" in summary.inner_text()
    assert "Use a date" in page.locator(".field.has-error").inner_text()
    if os.environ.get("CAVRA_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "approval-history-bad-filter.png"), full_page=True)
    # Chromium logs the 400 page itself as a failed load; nothing else may go wrong.
    assert [e for e in page.console_errors if "status of 400" not in e] == []
