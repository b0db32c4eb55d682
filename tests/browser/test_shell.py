"""In Chromium: a demo user logs in, switches tenant, sees the role's home page, edits a member inline."""

from __future__ import annotations

import pytest

from tenants.demo import seed_foundation
from tenants.models import Membership
from tests.browser.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_login_switch_tenant_and_home(page, live_server):
    seed_foundation()
    login(page, live_server, "auditor@both.test")
    assert page.locator("h1").inner_text() == "Acme Corp"
    page.select_option("[data-testid=tenant-select]", "globex")
    page.wait_for_function("document.querySelector('h1').innerText === 'Globex'")
    assert page.locator("[data-testid=tenant-select]").input_value() == "globex"
    assert "Auditor" in page.locator(".lede").inner_text()
    assert page.console_errors == []


def test_tenant_admin_home_and_inline_role_edit(page, live_server):
    seed_foundation()
    login(page, live_server, "tenant_admin@acme.test")
    assert page.get_by_role("heading", name="Members and sign-in").is_visible()
    page.get_by_role("link", name="Members", exact=True).click()
    row = page.locator("tr[data-email='executive@acme.test']")
    row.get_by_role("link", name="Edit roles").click()
    row = page.locator("tr[data-email='executive@acme.test']")
    row.locator("input[value=auditor]").check()
    with page.expect_response(lambda r: "/tenants/members/" in r.url and r.request.method == "POST"):
        row.get_by_role("button", name="Save roles").click()
    page.locator("tr[data-email='executive@acme.test'] >> text=Auditor").wait_for()
    # htmx swapped the row in place: still the same page, no reload.
    assert page.url.endswith("/tenants/members/")
    membership = Membership.objects.get(tenant__slug="acme", user__email="executive@acme.test")
    assert set(membership.roles) == {"executive", "auditor"}
    assert page.console_errors == []
