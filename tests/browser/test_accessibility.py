"""In Chromium, axe-core (vendored from npm, tests/browser/vendor/axe-core) finds no serious or critical
violation on the main page of every app, as an admin holding every role over the demo data, and on the
signed-out login page."""

from __future__ import annotations

from pathlib import Path

import pytest

from approvals.models import ApprovalRequest
from tenants.demo import DEMO_PASSWORD
from tests.browser.conftest import EVERY_ROLE_ADMIN, login, seed_demo_with_every_role_admin

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"

# The main page of every app (cavra_portal/urls.py and each app's urls.py); "{approval}" is a demo
# approval's detail page.
PAGES = (
    "/",
    "/approvals/",
    "/approvals/history/",
    "/approvals/{approval}/",
    "/registry/agents/",
    "/registry/mcp-servers/",
    "/policies/",
    "/policies/activity/",
    "/policies/activity/sessions/",
    "/evidence/",
    "/aispm/",
    "/aispm/findings/",
    "/reports/",
    "/reports/schedules/",
    "/connectors/",
    "/tenants/members/",
    "/tenants/sso/",
    "/tenants/tokens/",
    "/accounts/2fa/",
)

# Only what a person meets: "best-practice" rules are advice, the WCAG A/AA rules are the bar.
AXE_RUN = """async () => {
  const result = await axe.run(document, {
    runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']},
    resultTypes: ['violations'],
  });
  return result.violations
    .filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => ({id: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.slice(0, 6).map(n => n.target.join(' ') + ' :: ' + n.failureSummary.split('\\n').slice(1, 2).join(''))}));
}"""


def serious_violations(page) -> list[dict]:
    """axe-core's serious and critical WCAG A/AA violations on the page as it stands.

    Evaluated through the DevTools protocol rather than a <script> tag: the portal's
    Content-Security-Policy (rightly) refuses inline scripts, and the test must not loosen it."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;true")
    return page.evaluate(AXE_RUN)


def report(found: dict[str, list[dict]]) -> str:
    lines = []
    for url, violations in found.items():
        for v in violations:
            lines.append(f"{url}: {v['id']} ({v['impact']}): {v['help']}")
            lines.extend(f"    {target}" for target in v["targets"])
    return "\n".join(lines)


# Agents, approvals and policy activity fill the lists; the other apps' demo (evidence checkpoints,
# AISPM roll-ups) adds minutes of set-up, and their pages still render every control and table.
A11Y_DEMO = ("registry", "approvals", "policies")


def test_no_serious_violation_on_any_app_page(page, live_server):
    tenants = seed_demo_with_every_role_admin(A11Y_DEMO)
    approval = ApprovalRequest.objects.filter(tenant=tenants["acme"]).order_by("-pk").first()
    assert approval is not None, "the approvals demo seeds requests"

    page.goto(f"{live_server.url}/accounts/login/")
    found = {"/accounts/login/": serious_violations(page)}
    login(page, live_server, EVERY_ROLE_ADMIN, DEMO_PASSWORD)
    for path in PAGES:
        url = path.format(approval=approval.public_id)
        response = page.goto(f"{live_server.url}{url}")
        assert response.status == 200, (url, response.status)
        found[url] = serious_violations(page)
    found = {url: v for url, v in found.items() if v}
    assert not found, "axe-core found serious/critical violations:\n" + report(found)
