"""In Chromium over the demo data: at 390 px (a phone) and at 1,440 px the approval queue, an approval's
detail page, the portal home and every app's home are exactly as wide as the viewport (tables scroll
inside their own box), and the approve/deny controls are thumb-sized (44 x 44 CSS px) on the phone."""

from __future__ import annotations

from pathlib import Path

import pytest

from approvals.models import ApprovalRequest
from tenants.demo import DEMO_PASSWORD
from tests.browser.conftest import EVERY_ROLE_ADMIN, login, seed_demo_with_every_role_admin

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
DESKTOP = {"viewport": {"width": 1440, "height": 900}}

# The portal home and each app's home (the first page its navigation entry opens).
HOMES = (
    "/",
    "/approvals/",
    "/registry/agents/",
    "/registry/mcp-servers/",
    "/policies/",
    "/policies/activity/",
    "/evidence/",
    "/aispm/",
    "/reports/",
    "/connectors/",
    "/tenants/members/",
)
TAP_TARGET = 44  # CSS px: WCAG 2.5.5 (AAA) and the platforms' guidance; 2.5.8's 24 px is the floor.

DOCUMENT_WIDTH = "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
WIDER_THAN_VIEWPORT = """(width) => [...document.querySelectorAll('main *, header *, nav *')]
  .filter(e => e.getBoundingClientRect().right > width + 1)
  .filter(e => !(e.parentElement && e.parentElement.closest('.table-scroll, .sidenav ul, pre, .table')))
  .slice(-8)
  .map(e => `${e.tagName.toLowerCase()}.${e.className} right=${Math.round(e.getBoundingClientRect().right)}`)"""
SMALL_TARGETS = """(selector) => [...document.querySelectorAll(selector)]
  .filter(e => e.offsetParent !== null)
  .map(e => ({text: e.innerText.trim() || e.getAttribute('aria-label'), box: e.getBoundingClientRect()}))
  .map(({text, box}) => ({text, width: Math.round(box.width), height: Math.round(box.height)}))"""


def overflow(page, url: str, width: int) -> tuple | None:
    """None when the page at `url` is exactly `width` wide, else what sticks out (for the failure)."""
    response = page.goto(url)
    assert response.status == 200, (url, response.status)
    document_width = page.evaluate(DOCUMENT_WIDTH)
    if document_width == width:
        return None
    return (url, document_width, page.evaluate(WIDER_THAN_VIEWPORT, width))


def too_wide(page, base: str, paths, width: int) -> list[tuple]:
    return [found for path in paths if (found := overflow(page, f"{base}{path}", width))]


def targets(page, selector: str) -> list[dict]:
    found = page.evaluate(SMALL_TARGETS, selector)
    assert found, f"no visible {selector} on {page.url}"
    return found


def _pending(tenant) -> ApprovalRequest:
    approval = ApprovalRequest.objects.filter(tenant=tenant, status="pending").order_by("pk").first()
    assert approval is not None, "the approvals demo opens pending requests"
    return approval


# Agents and approvals are what these pages list; the rest of the demo adds minutes, not width.
LAYOUT_DEMO = ("registry", "approvals")


def test_queue_detail_and_homes_fit_390px_with_thumb_sized_actions_and_1440px(browser, live_server):
    tenants = seed_demo_with_every_role_admin(LAYOUT_DEMO)
    approval = _pending(tenants["acme"])
    phone = browser.new_context(**PHONE)
    page = phone.new_page()
    try:
        login(page, live_server, EVERY_ROLE_ADMIN, DEMO_PASSWORD)
        phone_too_wide = too_wide(page, live_server.url, (*HOMES, f"/approvals/{approval.public_id}/"), 390)

        page.goto(f"{live_server.url}/approvals/")
        page.get_by_test_id("approve").first.wait_for()
        small = [
            t
            for t in targets(page, "[data-testid=review-form] .actions .btn")
            if min(t["width"], t["height"]) < TAP_TARGET
        ]
        assert small == [], small
        # The reason field and the navigation are tapped too: WCAG 2.2's 24 px minimum at least.
        small = [
            t
            for t in targets(page, "[data-testid=reason], .sidenav a, .topbar select, .topbar button")
            if min(t["width"], t["height"]) < 24
        ]
        assert small == [], small
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "approvals-phone.png"))

        page.goto(f"{live_server.url}/approvals/{approval.public_id}/")
        small = [
            t
            for t in targets(page, "[data-testid=review-form] .btn")
            if min(t["width"], t["height"]) < TAP_TARGET
        ]
        assert small == [], small
        page.screenshot(path=str(SCREENSHOTS / "approval-detail-phone.png"))
    finally:
        phone.close()
    desktop = browser.new_context(**DESKTOP)
    page = desktop.new_page()
    try:
        login(page, live_server, EVERY_ROLE_ADMIN, DEMO_PASSWORD)
        pages = (*HOMES, f"/approvals/{approval.public_id}/", "/approvals/history/")
        desktop_too_wide = too_wide(page, live_server.url, pages, 1440)
    finally:
        desktop.close()
    print("too wide:", phone_too_wide, desktop_too_wide)
    assert (phone_too_wide, desktop_too_wide) == ([], [])
