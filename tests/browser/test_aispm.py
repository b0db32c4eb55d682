"""In Chromium: the compliance officer walks coverage -> control -> evidence record; the executive's home
shows the score, a rendered trend chart and top risks that open their findings; no page overflows at 1440 px."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from aispm.models import Finding
from aispm.services.findings import findings_refresh
from aispm.services.rollups import rollup_backfill
from policies.services import policy_pack_upload, rollout_set
from registry.services import agent_create, agent_credential_issue
from tenants.demo import seed_foundation
from tests.aispm.conftest import COMPLIANCE_PACK
from tests.browser.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _story():
    acme = seed_foundation()["acme"]
    version = policy_pack_upload(tenant=acme, text=COMPLIANCE_PACK, actor=None)
    rollout_set(tenant=acme, version=version, mode="enforce", actor=None)
    agent = agent_create(tenant=acme, actor=None, name="ci-bot", profile="claude-code")  # no owner: a finding
    _, token = agent_credential_issue(agent=agent, actor=None)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    for target in (".env", ".env", "README.md"):
        client.post("/api/v1/decisions", json.dumps({"action": "read_file", "target": target}),
                    content_type="application/json")  # fmt: skip
    findings_refresh(tenant=acme)
    rollup_backfill(tenant=acme)
    return acme


def _no_overflow(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), page.url


def test_compliance_officer_coverage_to_control_to_evidence(browser, live_server):
    acme = _story()
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    login(page, live_server, "compliance_officer@acme.test")
    page.click("nav.sidenav >> text=Control coverage")
    _no_overflow(page)
    page.click("text=SOC 2 Trust Services Criteria")
    page.wait_for_selector("[data-testid=controls]")
    _no_overflow(page)
    row = page.locator("[data-testid=controls] tr", has_text="CC6.1")
    assert "covered" in row.inner_text()
    row.locator("a", has_text="CC6.1").click()
    page.wait_for_selector("[data-testid=control-decisions]")
    assert page.locator("[data-testid=control-status]").inner_text() == "covered"
    _no_overflow(page)
    links = page.locator("[data-testid=evidence-link]")
    assert links.count() == 2
    links.first.click()
    page.wait_for_url("**/evidence/records/**")
    body = page.content()
    assert "baseline.secrets.dotenv" in body and "CC6.1" in body  # the mapping is in the record itself
    _no_overflow(page)
    assert Finding.objects.filter(tenant=acme).exists()
    context.close()


def test_executive_home_score_trend_and_top_risks(browser, live_server):
    _story()
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    login(page, live_server, "executive@acme.test")
    score = page.locator("[data-testid=home-score]").inner_text()
    assert score.isdigit() and 0 <= int(score) <= 100
    chart = page.locator("[data-testid=home-trend] svg[data-chart=line]")
    assert chart.count() == 1 and chart.bounding_box()["width"] > 200
    assert page.locator("[data-testid=home-trend] svg path.line").count() == 1  # a line was drawn
    _no_overflow(page)
    risk = page.locator("[data-testid=home-risks] a").first
    title = risk.inner_text()
    risk.click()
    page.wait_for_url("**/aispm/findings/fnd_*/")
    assert page.locator("h1").inner_text() == title
    assert page.locator("[data-testid=finding-status]").inner_text() == "Open"
    assert page.locator("text=Act on it").count() == 0  # executives read, they do not move findings
    _no_overflow(page)
    page.goto(f"{live_server.url}/aispm/")
    page.locator("[data-testid=score-why] summary").click()
    assert page.locator("[data-testid=score-components]").is_visible()
    _no_overflow(page)
    context.close()
