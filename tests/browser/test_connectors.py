"""In Chromium: a tenant admin configures a webhook connector, presses test and sees it delivered to a
receiver that checks the HMAC signature; breaks its URL, sees the failure, the error and the retry count."""

from __future__ import annotations

from pathlib import Path

import pytest

from cavra_portal.celery import app as celery_app
from tenants.demo import seed_foundation
from tests.browser.conftest import login
from tests.connectors import receivers as r
from tests.connectors.workers import free_port

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def inline_tasks():
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True  # the live server delivers on commit, in its thread
    yield
    celery_app.conf.task_always_eager = before


def test_tenant_admin_configures_tests_and_sees_a_broken_url_fail(page, live_server, inline_tasks):
    seed_foundation()
    receiver = r.Receiver(r.check_webhook, "whsec-browser-1234").start()
    try:
        login(page, live_server, "tenant_admin@acme.test")
        page.goto(f"{live_server.url}/connectors/new/")
        page.fill("input[name=name]", "SOC webhook")
        page.select_option("select[name=kind]", "webhook")
        page.fill("input[name=url]", f"{receiver.url}/hook")
        page.fill("input[name=secret]", "whsec-browser-1234")
        page.check("input[name=event_types][value=decision]")
        page.check("input[name=event_types][value=break_glass]")
        page.click("form.card button[type=submit]")
        page.wait_for_url("**/connectors/con_*/")
        assert page.inner_text("[data-testid=health]") == "unknown"

        page.click("button:has-text('Send test')")
        page.wait_for_selector("[data-testid=health]:text('healthy')")
        assert page.inner_text("[data-testid=outbox] tbody tr:first-child [data-testid=attempts]") == "1 of 8"
        assert len(receiver.keys) == 1  # the receiver checked the signature and accepted it
        assert "whsec-browser-1234" not in page.content()

        page.click("a:has-text('Edit')")
        assert page.input_value("input[name=secret]") == ""  # never shown after save
        page.fill("input[name=url]", f"http://127.0.0.1:{free_port()}/hook")  # nothing listens there
        page.click("form.card button[type=submit]")
        page.wait_for_url("**/connectors/con_*/")
        page.click("button:has-text('Send test')")
        page.wait_for_selector("[data-testid=health]:text('failing')")
        assert "ConnectionRefusedError" in page.inner_text(
            "[data-testid=last-error]"
        ) or "refused" in page.inner_text("[data-testid=last-error]")
        first = "[data-testid=outbox] tbody tr:first-child"
        assert page.inner_text(f"{first} [data-testid=attempts]") == "1 of 8"
        page.click(f"{first} >> text=Retry now")
        page.wait_for_selector(f"{first} [data-testid=attempts]:text('2 of 8')")
        page.set_viewport_size({"width": 1440, "height": 900})
        page.screenshot(path=str(SCREENSHOTS / "connectors.png"), full_page=True)
        assert page.console_errors == []
    finally:
        receiver.stop()
