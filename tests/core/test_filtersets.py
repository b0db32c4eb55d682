"""List pages filter through django-filter FilterSets: good values narrow, bad ones are a 400 naming the field."""

from __future__ import annotations

import pytest

from core.roles import Role
from tests.factories import (
    AgentFactory,
    AgentSessionFactory,
    ApprovalRequestFactory,
    DecisionFactory,
    McpServerFactory,
)

pytestmark = pytest.mark.django_db

BAD = [
    ("/registry/agents/", {"status": "sleeping"}, "status"),
    ("/registry/agents/", {"profile": "rogue", "risk_tier": "extreme"}, "risk_tier"),
    ("/registry/mcp-servers/", {"trust_tier": "blessed"}, "trust_tier"),
    ("/approvals/history/", {"status": "maybe"}, "status"),
    ("/approvals/history/", {"until": "2026-02-30"}, "until"),  # well formed, impossible: not a 500
    ("/approvals/history/", {"since": "last tuesday"}, "since"),
    ("/policies/activity/", {"decision": "perhaps"}, "decision"),
    ("/policies/activity/", {"until": "2026-13-01T00:00"}, "until"),
    ("/policies/activity/sessions/", {"agent": "x" * 65}, "agent"),
    ("/evidence/", {"decision": "maybe"}, "decision"),
    ("/evidence/", {"since": "2026-02-01", "until": "2026-01-01"}, "until"),
]


@pytest.mark.parametrize("url, params, field", BAD)
def test_bad_filter_value_is_a_400_naming_the_field(acme, client_with_role, url, params, field):
    AgentFactory(tenant=acme, name="listed-agent")
    response = client_with_role(acme, Role.TENANT_ADMIN).get(url, params)
    html = response.content.decode()
    assert response.status_code == 400
    assert 'data-testid="filter-errors"' in html and f"<code>{field}</code>" in html
    assert "listed-agent" not in html  # a bad filter lists nothing rather than everything


def test_agent_filters_narrow_the_list(acme, globex, client_with_role):
    AgentFactory(tenant=acme, name="alpha", profile="codex", risk_tier="high")
    AgentFactory(tenant=acme, name="beta", profile="read-only")
    AgentFactory(tenant=globex, name="alpha-globex", profile="codex")
    client = client_with_role(acme, Role.OPERATOR)
    html = client.get("/registry/agents/", {"profile": "codex", "q": " alp "}).content.decode()
    assert 'data-agent="alpha"' in html and 'data-agent="beta"' not in html and "alpha-globex" not in html
    assert 'data-agent="alpha"' not in client.get("/registry/agents/", {"risk_tier": "low"}).content.decode()


def test_server_filters_narrow_the_list(acme, client_with_role):
    McpServerFactory(tenant=acme, server_id="github", trust_tier="trusted")
    McpServerFactory(tenant=acme, server_id="weather", trust_tier="experimental", approval_state="pending")
    html = client_with_role(acme, Role.OPERATOR).get("/registry/mcp-servers/", {"approval_state": "pending"})
    assert b"weather" in html.content and b"github" not in html.content


def test_history_dates_take_whole_days(acme, client_with_role):
    approval = ApprovalRequestFactory(agent=AgentFactory(tenant=acme), target=".github/workflows/ci.yml")
    day = approval.requested_at.date().isoformat()
    client = client_with_role(acme, Role.TENANT_ADMIN)
    assert approval.public_id in client.get("/approvals/history/").content.decode()
    assert (
        approval.public_id in client.get("/approvals/history/", {"since": day, "until": day}).content.decode()
    )
    before = client.get("/approvals/history/", {"until": "2000-01-01"})
    assert before.status_code == 200 and approval.public_id not in before.content.decode()


def test_activity_until_a_date_includes_that_day(acme, client_with_role):
    decision = DecisionFactory(tenant=acme, target="today.py")
    day = decision.created_at.date().isoformat()
    client = client_with_role(acme, Role.AUDITOR)
    assert b"today.py" in client.get("/policies/activity/", {"since": day, "until": day}).content
    assert b"today.py" not in client.get("/policies/activity/", {"until": "2000-01-01"}).content


def test_session_pages_keep_the_filters(acme, client_with_role):
    for i in range(55):
        AgentSessionFactory(tenant=acme, agent_name=f"bot-{i}", repository="acme/web")
    html = client_with_role(acme, Role.AUDITOR).get(
        "/policies/activity/sessions/", {"repository": "acme/web"}
    )
    assert b"repository=acme%2Fweb&amp;page=2" in html.content
