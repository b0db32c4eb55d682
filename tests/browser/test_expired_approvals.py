"""In Chromium, a reviewer in Tokyo who left a page open past the request's TTL: the click is refused
(409), the answer swapped into the page names the real expiry time in Japan's zone (and UTC), the
Approve/Deny buttons are gone, and nothing was recorded."""

from __future__ import annotations

import itertools
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from approvals.models import ApprovalRequest
from tenants.demo import DEMO_PASSWORD, seed_foundation
from tenants.models import User
from tests.browser.conftest import login
from tests.factories import AgentFactory, ApprovalRequestFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REVIEWER = "security_reviewer@acme.test"
TOKYO = ZoneInfo("Asia/Tokyo")
_seq = itertools.count()


def _pending(acme, agent) -> ApprovalRequest:
    n = next(_seq)
    approval = ApprovalRequestFactory(
        tenant=acme,
        agent=agent,
        action_digest=f"{n:064x}",
        action="write_file",
        target=f".github/workflows/late-{n}.yml",
        environment="prod",
        severity="high",
        reason="Workflow files run with repository secrets.",
        policy_digest="sha256:v1",
    )
    ApprovalRequest.objects.filter(pk=approval.pk).update(expires_at=timezone.now() + timedelta(minutes=30))
    return approval


def _expire(approval: ApprovalRequest) -> str:
    """Moves the TTL into the past (as time would) and returns the expiry as Tokyo reads it."""
    expired_at = (timezone.now() - timedelta(minutes=2)).replace(microsecond=0)
    ApprovalRequest.objects.filter(pk=approval.pk).update(expires_at=expired_at)
    return f"expired at {expired_at.astimezone(TOKYO):%Y-%m-%d %H:%M:%S} JST ({expired_at:%H:%M:%S} UTC)"


def test_late_click_in_the_queue_and_on_the_detail_page_states_the_expiry_in_tokyo(browser, live_server):
    acme = seed_foundation()["acme"]
    agent = AgentFactory(tenant=acme, name="release-bot", owner=User.objects.get(email="operator@acme.test"))
    in_queue, on_detail = _pending(acme, agent), _pending(acme, agent)
    context = browser.new_context(timezone_id="Asia/Tokyo")
    page = context.new_page()
    try:
        login(page, live_server, REVIEWER, DEMO_PASSWORD)  # the first page sets the time-zone cookie
        page.goto(f"{live_server.url}/approvals/")
        row = page.locator(f"#item-{in_queue.public_id}")
        row.get_by_test_id("approve").wait_for()
        expected = _expire(in_queue)
        row.get_by_test_id("reason").fill("Planned release")
        with page.expect_response(lambda r: r.url.endswith(f"/{in_queue.public_id}/review/")) as answer:
            row.get_by_test_id("approve").click()
        assert answer.value.status == 409
        error = row.get_by_test_id("row-error")
        error.wait_for()
        assert expected in error.inner_text()
        assert row.get_by_test_id("approve").count() == 0 and row.get_by_test_id("deny").count() == 0
        assert row.get_by_test_id("status").inner_text() == "Expired"

        # The detail page's plain form: the full page comes back with the same sentence and no buttons.
        page.goto(f"{live_server.url}/approvals/{on_detail.public_id}/")
        expected = _expire(on_detail)
        page.get_by_test_id("reason").fill("Planned release")
        with page.expect_navigation():
            page.get_by_test_id("approve").click()
        assert expected in page.get_by_test_id("error").inner_text()
        assert page.get_by_test_id("approve").count() == 0 and page.get_by_test_id("deny").count() == 0
        assert page.get_by_test_id("status").inner_text() == "Expired"
    finally:
        context.close()
    for approval in (in_queue, on_detail):
        approval.refresh_from_db()
        assert approval.effective_status == "expired" and not approval.reviews.exists()
