"""Real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright; never a downloaded browser."""

from __future__ import annotations

import os

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    # Playwright's sync API keeps an event loop in this thread; the ORM calls the tests make
    # between page steps are ordinary blocking calls, so allow them explicitly.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


def _is_csp_violation(text: str) -> bool:
    return "Content Security Policy" in text or "Content-Security-Policy" in text


@pytest.fixture
def page(browser):
    """A fresh page; any Content-Security-Policy violation it reports fails the test."""
    context = browser.new_context()
    page = context.new_page()
    page.console_errors = []
    page.csp_violations = []
    page.on("console", lambda msg: msg.type == "error" and page.console_errors.append(msg.text))
    page.on("console", lambda msg: _is_csp_violation(msg.text) and page.csp_violations.append(msg.text))
    page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))
    yield page
    context.close()
    assert page.csp_violations == [], f"Content-Security-Policy violations: {page.csp_violations}"


def login(page, live_server, email: str, password: str = "cavra-demo") -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


EVERY_ROLE_ADMIN = "every-role@acme.test"


def seed_demo_with_every_role_admin(apps: tuple[str, ...] | None = None) -> dict:
    """The demo (`manage.py cavra_demo`'s data; only `apps` when given) plus acme's every-role@acme.test,
    who sees every app."""
    from cavra_portal.management.commands.cavra_demo import DEMO_ORDER
    from core.roles import ALL_ROLES
    from tenants.demo import _member, _user, seed_foundation

    tenants = seed_foundation()
    for app, module in DEMO_ORDER:
        if apps is None or app in apps:
            module.seed(tenants=tenants)
    _member(tenants["acme"], _user(EVERY_ROLE_ADMIN), list(ALL_ROLES))
    return tenants
