"""In Chromium: a request reaches an open reviewer queue without a reload, is approved inline, the agent's
long-poll returns approved, and a second reviewer's stale deny is refused with a clear message."""

from __future__ import annotations

import json
import statistics
import threading
import time
import urllib.request

import pytest

from approvals.models import ApprovalRequest
from approvals.services import approval_request_open
from core.roles import Role
from registry.services import agent_create, agent_credential_issue
from tenants.demo import DEMO_PASSWORD, seed_foundation
from tenants.models import User
from tenants.services import membership_add
from tests.browser.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SEVERITIES = ["medium", "critical", "high", "low", "high"]


def _open(tenant, agent, n: int, severity: str) -> ApprovalRequest:
    # Stands in for decide() answering require_approval (the same service call it makes).
    return approval_request_open(
        tenant=tenant,
        agent=agent,
        action_digest=f"{n:064x}",
        action="write_file",
        target=f".github/workflows/deploy-{n}.yml",
        repository="acme/web",
        environment="dev",
        rule_id="filesystem.write.require_approval",
        severity=severity,
        reason="Workflow files run with repository secrets.",
        policy_pack="acme-baseline",
        policy_digest="sha256:v1",
    )


def _long_poll(url: str, token: str, out: dict) -> None:
    started = time.monotonic()
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=40) as response:
        out["status_code"] = response.status
        out["body"] = json.loads(response.read())
    out["seconds"] = time.monotonic() - started


def test_queue_live_update_inline_approve_long_poll_and_stale_deny(browser, live_server):
    tenants = seed_foundation()
    acme = tenants["acme"]
    second = User.objects.create_user(email="reviewer2@acme.test", password=DEMO_PASSWORD)
    membership_add(tenant=acme, user=second, roles=[Role.SECURITY_REVIEWER])
    owner = User.objects.get(email="operator@acme.test")
    agent = agent_create(tenant=acme, actor=None, name="ci-bot", profile="claude-code", owner=owner)
    _, token = agent_credential_issue(agent=agent, actor=None)

    first_ctx, second_ctx = browser.new_context(), browser.new_context()
    page, other = first_ctx.new_page(), second_ctx.new_page()
    errors: list[str] = []
    for p in (page, other):
        p.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
        p.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        login(page, live_server, "security_reviewer@acme.test", DEMO_PASSWORD)
        login(other, live_server, "reviewer2@acme.test", DEMO_PASSWORD)
        page.goto(f"{live_server.url}/approvals/")
        other.goto(f"{live_server.url}/approvals/")
        page.get_by_test_id("queue-empty").wait_for()
        url_before = page.url

        # Time from the committed open (what decide() does) to the row visible in the open queue.
        timings = []
        opened = []
        for n, severity in enumerate(SEVERITIES):
            approval = _open(acme, agent, n, severity)
            started = time.monotonic()
            page.locator(f"[data-approval='{approval.public_id}']").wait_for(state="visible", timeout=10_000)
            timings.append(time.monotonic() - started)
            opened.append(approval)
        median = statistics.median(timings)
        print(f"\ntime-to-queue seconds: {[round(t, 3) for t in timings]} median={median:.3f}")
        assert median < 2.0
        assert page.url == url_before  # no reload: htmx swapped the queue in place

        # Most severe first, then newest.
        order = page.locator("[data-approval]").evaluate_all("els => els.map(e => e.dataset.approval)")
        expected = sorted(opened, key=lambda a: (-a.severity_rank, -a.requested_at.timestamp()))
        assert order == [a.public_id for a in expected]

        target = opened[1]  # the critical one
        row = page.locator(f"#item-{target.public_id}")
        assert target.target in row.get_by_test_id("target").inner_text()

        # Reviewer two starts writing a denial (the live poll pauses while they type)...
        other.locator(f"#item-{target.public_id}").wait_for()
        other_row = other.locator(f"#item-{target.public_id}")
        other_row.get_by_test_id("reason").fill("I do not like this")

        # ...the agent is long-polling with its token...
        poll: dict = {}
        thread = threading.Thread(
            target=_long_poll,
            args=(f"{live_server.url}/api/v1/approvals/{target.public_id}?wait=30", token, poll),
        )
        thread.start()
        time.sleep(0.5)

        # ...and reviewer one approves inline, with a reason, using the keyboard.
        row.get_by_test_id("reason").fill("Reviewed the workflow diff; no secret exposure")
        row.get_by_test_id("approve").focus()
        page.keyboard.press("Enter")
        page.locator(f"#item-{target.public_id} [data-testid=row-done]").wait_for()
        assert "approved" in page.locator(f"#item-{target.public_id}").inner_text()

        thread.join(35)
        assert poll["status_code"] == 200 and poll["body"]["status"] == "approved", poll
        assert poll["seconds"] < 10
        assert poll["body"]["decided_by"] == "security_reviewer@acme.test"

        # The second reviewer's deny (confirmed) arrives after the decision: refused, with a clear message.
        other.once("dialog", lambda dialog: dialog.accept())
        other_row.get_by_test_id("deny").click()
        message = other.locator(f"#item-{target.public_id} [data-testid=row-error]")
        message.wait_for()
        text = message.inner_text()
        assert "already approved by security_reviewer@acme.test" in text and "not recorded" in text
        assert ApprovalRequest.objects.get(pk=target.pk).status == "approved"
        assert ApprovalRequest.objects.get(pk=target.pk).reviews.count() == 1

        # The decided request leaves reviewer one's live queue without a reload.
        page.locator(f"#item-{target.public_id}").wait_for(state="detached", timeout=5_000)
        # The stale deny is answered 409 (swapped into the row); Chromium logs that status as a console error.
        assert [e for e in errors if "status of 409" not in e] == []
    finally:
        first_ctx.close()
        second_ctx.close()
