"""In Chromium: a platform admin uploads licences on the status page (a tampered one is answered next to
the field, in place), the banner counts the trial's days left and the exceeded seats, and a tenant admin
reads the same state without the upload form. Screenshot: docs/screenshots/licence.png."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.utils import timezone

from licensing import selectors
from licensing.licence_file import licence_dumps, licence_issue, public_key_raw
from tenants.demo import seed_foundation
from tests.browser.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def test_platform_admin_uploads_and_tenant_admin_sees_the_banner(page, live_server, settings, tmp_path):
    seed_foundation()
    selectors._parsed.clear()
    vendor = Ed25519PrivateKey.generate()
    settings.CAVRA_LICENSE_PUBLIC_KEYS = [public_key_raw(vendor.public_key()).hex()]
    today = timezone.now().date()
    text = licence_dumps(
        licence_issue(
            private_key=vendor,
            licence_id="lic_acme_trial_2026",
            licensee="Acme Corp",
            edition="trial",
            seats=10,
            issued_at=today - timedelta(days=18),
            expires_at=today + timedelta(days=12),
        )
    )
    good, tampered = tmp_path / "acme-trial.json", tmp_path / "tampered.json"
    good.write_text(text)
    tampered.write_text(text.replace('"seats": 10', '"seats": 1000'))

    login(page, live_server, "admin@cavra.test")
    page.goto(f"{live_server.url}/licence/")
    assert page.get_by_test_id("licence-state").get_attribute("data-state") == "missing"
    assert "Licence missing" in page.get_by_test_id("licence-banner").inner_text()

    page.set_input_files("#id_licence_file", str(tampered))
    page.click("text=Upload licence")
    page.get_by_test_id("licence-upload-error").wait_for()
    assert "signature does not match" in page.get_by_test_id("licence-upload-error").inner_text()
    assert page.get_by_test_id("licence-state").get_attribute("data-state") == "missing"

    page.set_input_files("#id_licence_file", str(good))
    page.click("text=Upload licence")
    page.wait_for_selector('[data-state="trial"]')
    banner = page.get_by_test_id("licence-banner").inner_text()
    assert "12 days left of the trial" in banner
    assert "exceed the 10 licensed seats" in banner  # the demo has more members than that
    assert "Licence lic_acme_trial_2026 for Acme Corp installed." in page.content()
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=str(SCREENSHOTS / "licence.png"), full_page=True)

    page.click("text=Sign out")
    login(page, live_server, "tenant_admin@acme.test")
    assert "12 days left of the trial" in page.get_by_test_id("licence-banner").inner_text()
    page.click("text=Licence details")
    assert page.get_by_test_id("licence-state").get_attribute("data-state") == "trial"
    assert page.locator("#id_licence_file").count() == 0
    assert [e for e in page.console_errors if "status of 422" not in e] == []  # the tampered upload's answer
