"""In Chromium: a compliance officer creates a report schedule (a refused domain first, named at its field),
runs it now, and finds the report in the archive with its files; screenshots for docs/reports.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from tenants.demo import seed_foundation
from tests.browser.conftest import login

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("celery_inline"),
]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def test_compliance_officer_creates_a_schedule_runs_it_and_sees_it_in_the_archive(
    browser, live_server, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    seed_foundation()
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    login(page, live_server, "compliance_officer@acme.test")
    page.click("nav.sidenav >> text=Reports")
    page.click("text=Schedules")
    form = page.locator("[data-testid=schedule-form]")
    form.locator("input[name=name]").fill("Monday executive brief")
    form.locator("select[name=report_type]").select_option("executive_brief")
    form.locator("input[name=cron]").fill("0 7 * * 1")
    form.locator("input[name=timezone]").fill("Europe/Berlin")
    form.locator("input[name=recipient_roles][value=executive]").check()
    form.locator("textarea[name=recipient_emails]").fill("board@outside.example")
    form.locator("button[type=submit]").click()
    error = page.locator("[data-testid=error-recipient_emails]")
    assert "board@outside.example" in error.inner_text()
    form = page.locator("[data-testid=schedule-form]")
    form.locator("textarea[name=recipient_emails]").fill("")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("[data-testid=run-now]")
    page.screenshot(path=str(SCREENSHOTS / "reports-schedule.png"), full_page=True)
    page.click("[data-testid=run-now]")
    page.wait_for_selector("text=generated and handed to the outbox")
    assert "Run now" in page.locator("[data-testid=schedule-runs]").inner_text()
    page.click("text=← Schedules")
    page.click("text=← Reports")
    archive = page.locator("[data-testid=report-archive]")
    assert "Executive brief" in archive.inner_text() and "PDF" in archive.inner_text()
    page.screenshot(path=str(SCREENSHOTS / "reports-archive.png"), full_page=True)
    archive.locator("a", has_text="Executive brief").first.click()
    files = page.locator("[data-testid=report-files]").inner_text()
    assert ".pdf" in files and ".html" in files
    deliveries = page.locator("[data-testid=report-deliveries]").inner_text()
    assert "executive@acme.test" in deliveries and "Delivered" in deliveries
    with page.expect_download() as download:
        page.click("text=Signed manifest (JSON)")
    assert download.value.suggested_filename.endswith(".manifest.json")
    context.close()
