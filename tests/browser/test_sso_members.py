"""In Chromium: a tenant admin sets up OIDC sign-in on the SSO page against a local OpenID provider,
tests it, enables it, configures SAML from a local IdP's metadata, maps groups with a preview; a person then signs in with SSO in the browser; the
members page invites by e-mail. Both pages fit a 390 px phone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tenants.demo import seed_foundation
from tests.browser.conftest import login
from tests.support.oidc_provider import IdpUser, OidcProvider
from tests.support.saml_idp import SamlIdp

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def too_wide(page) -> list[str]:
    """What sticks out past the viewport (for the failure message)."""
    return page.evaluate(
        """[...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > window.innerWidth)
        .filter(e => { for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
            if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(p).overflowX)) return false; } return true; })
        .slice(-8).map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().right))"""
    )


def test_sso_page_end_to_end_and_sso_sign_in_in_the_browser(page, browser, live_server):
    seed_foundation()
    with OidcProvider(client_id="cavra-browser", client_secret="browser-secret") as idp:
        login(page, live_server, "tenant_admin@acme.test")
        page.goto(f"{live_server.url}/tenants/sso/")
        page.fill("#id_name", "Acme Okta")
        page.fill("#id_issuer_url", idp.issuer)
        page.fill("#id_client_id", idp.client_id)
        page.fill("#id_client_secret", idp.client_secret)
        page.fill("#id_email_domains", "sso.acme.test")
        # A bad scope list is answered next to its field, in place.
        page.fill("#id_scopes", "email")
        page.click("text=Save settings")
        page.locator("#scopes-error").wait_for()
        assert "must include openid" in page.locator("#scopes-error").inner_text()
        page.fill("#id_scopes", "openid email profile")
        page.fill("#id_client_secret", idp.client_secret)  # password fields are never echoed back
        page.click("text=Save settings")
        page.get_by_test_id("redirect-uri").wait_for()
        redirect_uri = page.get_by_test_id("redirect-uri").inner_text()
        assert redirect_uri == f"{live_server.url}/accounts/oidc/acme-acme-okta/login/callback/"

        page.click("text=Test connection")
        page.get_by_test_id("test-result").wait_for()
        assert "Connection works" in page.get_by_test_id("test-result").inner_text()

        page.reload()  # the state card appears with the saved provider
        page.check("input[name=enabled]")
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#state-region button[type=submit]")
        page.get_by_text("enabled — password sign-in still allowed").wait_for()

        # SAML 2.0 on the same page: metadata from a local IdP, checked; the SP URLs ready to copy.
        with SamlIdp("https://idp.acme.test/saml") as saml_idp:
            page.fill("#id_saml-name", "Acme Entra")
            page.fill("#id_saml-idp_entity_id", "https://idp.acme.test/other")
            page.fill("#id_saml-metadata_url", saml_idp.metadata_url)
            page.fill("#id_saml-email_domains", "saml.acme.test")
            page.click("text=Save SAML settings")
            page.locator("#saml-idp_entity_id-error").wait_for()
            assert "Entity id mismatch" in page.locator("#saml-idp_entity_id-error").inner_text()
            page.fill("#id_saml-idp_entity_id", saml_idp.entity_id)
            page.click("text=Test metadata")
            page.get_by_test_id("saml-test-result").wait_for()
            assert "Metadata usable" in page.get_by_test_id("saml-test-result").inner_text()
            page.click("text=Save SAML settings")
            page.get_by_test_id("saml-acs-url").wait_for()
            assert page.get_by_test_id("saml-acs-url").inner_text() == (
                f"{live_server.url}/accounts/saml/acme-acme-entra/acs/"
            )
            assert (
                page.get_by_test_id("saml-sp-metadata-url")
                .inner_text()
                .endswith("/accounts/saml/acme-acme-entra/metadata/")
            )

        page.fill("#id_mappings", "acme-secops = security_reviewer\nacme-ops = operator")
        page.click("text=Save mappings")
        page.get_by_text("Group → role mappings saved").first.wait_for()
        page.fill("#id_mappings", "acme-secops = security_reviewer\nacme-secops = auditor")
        page.click("text=Preview changes")
        page.get_by_test_id("mappings-preview").wait_for()
        if os.environ.get("CAVRA_SCREENSHOTS"):
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "sso.png"), full_page=True)
        # The deliberate bad scope above answered 422; Chromium logs that load, nothing else may fail.
        assert [e for e in page.console_errors if "status of 422" not in e] == []

        # Someone signs in with SSO in a fresh browser: the IdP's groups become their roles.
        idp.user = IdpUser(sub="okta|b1", email="dana@sso.acme.test", claims={"groups": ["acme-secops"]})
        context = browser.new_context()
        visitor = context.new_page()
        visitor.goto(f"{live_server.url}/accounts/login/")
        visitor.click("text=Sign in with Acme Okta")
        visitor.wait_for_url(f"{live_server.url}/")
        me = visitor.evaluate("fetch('/api/v1/me').then(r => r.json())")
        assert me["email"] == "dana@sso.acme.test" and me["roles"] == ["security_reviewer"]
        context.close()


def test_members_page_invites_and_fits_a_phone(page, browser, live_server, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    seed_foundation()
    login(page, live_server, "tenant_admin@acme.test")
    page.goto(f"{live_server.url}/tenants/members/")
    page.fill("input[name=email]", "new.hire@acme.test")
    page.check("input[name=roles][value=auditor]")
    page.click("text=Send invitation")
    page.get_by_test_id("invitations-table").wait_for()
    assert "new.hire@acme.test" in page.get_by_test_id("invitations-table").inner_text()
    if os.environ.get("CAVRA_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "members.png"), full_page=True)
    assert page.console_errors == []

    phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
    try:
        small = phone.new_page()
        login(small, live_server, "tenant_admin@acme.test")
        for path in ("/tenants/members/", "/tenants/sso/"):
            small.goto(f"{live_server.url}{path}")
            width = small.evaluate(
                "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
            )
            assert width == 390, (path, too_wide(small))
    finally:
        phone.close()
