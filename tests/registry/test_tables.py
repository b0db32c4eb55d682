"""Registry lists as sortable tables with a CSV export of exactly the page's rows (core.tables)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest

from core.roles import Role
from core.spreadsheet import formula_safe
from core.tables import human_label
from core.timezones import COOKIE
from registry.models import Agent
from tests.factories import AgentFactory, McpServerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(acme, member, client_as):
    return client_as(member(acme, Role.AUDITOR), acme)


def _page_agents(response) -> list[str]:
    return re.findall(r'data-agent="([^"]+)"', response.content.decode())


def _csv(response) -> list[dict]:
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_sorting_by_a_header_changes_the_order_and_keeps_the_filters(acme, reader):
    for name, risk in (("bravo", "low"), ("alpha", "high"), ("charlie", "medium")):
        AgentFactory(tenant=acme, name=name, profile="codex", risk_tier=risk)
    AgentFactory(tenant=acme, name="zulu-reader", profile="read-only")
    ascending = reader.get("/registry/agents/?profile=codex&sort=name")
    descending = reader.get("/registry/agents/?profile=codex&sort=-name")
    assert _page_agents(ascending) == ["alpha", "bravo", "charlie"]
    assert _page_agents(descending) == ["charlie", "bravo", "alpha"]
    # The header links carry the filter and the next sort, and swap only the table region through htmx.
    html = ascending.content.decode()
    link = re.search(r'<a href="([^"]+)" hx-get="[^"]+" hx-target="#agents-table"[^>]*data-sort="name"', html)
    assert link and "profile=codex" in link.group(1) and "sort=-name" in link.group(1)
    assert 'aria-sort="ascending"' in html
    fragment = reader.get("/registry/agents/?profile=codex&sort=-name", HTTP_HX_REQUEST="true")
    assert b"<html" not in fragment.content and _page_agents(fragment) == ["charlie", "bravo", "alpha"]


@pytest.mark.parametrize("sort", ["nonsense", "-", "tenant__name", "name,,", "__class__", "x" * 500])
def test_a_bad_sort_key_is_ignored_never_a_500(acme, reader, sort):
    AgentFactory(tenant=acme, name="alpha")
    assert reader.get("/registry/agents/", {"sort": sort}).status_code == 200
    assert reader.get("/registry/agents/export.csv", {"sort": sort}).status_code == 200
    assert reader.get("/registry/mcp-servers/", {"sort": sort}).status_code == 200


def test_csv_rows_equal_the_filtered_sorted_page_rows_with_human_labels(acme, reader):
    agent = AgentFactory(tenant=acme, name="alpha", profile="codex", risk_tier="high")
    Agent.objects.filter(pk=agent.pk).update(status=Agent.Status.SUSPENDED)
    AgentFactory(tenant=acme, name="bravo", profile="codex", risk_tier="low")
    AgentFactory(tenant=acme, name="docs", profile="read-only")
    query = "?profile=codex&sort=-name"
    page = reader.get("/registry/agents/" + query)
    export = reader.get("/registry/agents/export.csv" + query)
    assert export["Content-Disposition"] == 'attachment; filename="acme-agents.csv"'
    rows = _csv(export)
    assert [r["Agent"] for r in rows] == _page_agents(page) == ["bravo", "alpha"]
    alpha = rows[1]
    assert alpha["Status"] == "Suspended" and alpha["Risk"] == "High"
    assert alpha["Profile"] == agent.get_profile_display() != "codex"
    assert alpha["Agent id"] == agent.public_id
    assert "<" not in "".join(alpha.values())  # values, not the page's HTML
    assert alpha["Last seen"] == ""  # never seen: an empty cell, not a word a spreadsheet would sort
    # The page links to this export with its own query string.
    assert "/registry/agents/export.csv?profile=codex&amp;sort=-name" in page.content.decode()


def test_csv_times_are_in_the_readers_zone(acme, reader):
    agent = AgentFactory(tenant=acme, name="alpha")
    Agent.objects.filter(pk=agent.pk).update(last_seen_at=datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    reader.cookies[COOKIE] = "Europe/Berlin"
    rows = _csv(reader.get("/registry/agents/export.csv"))
    assert rows[0]["Last seen"] == "2026-03-01 13:00:00 CET (12:00:00 UTC)"
    page = reader.get("/registry/agents/").content.decode()
    assert ">2026-03-01 13:00</time>" in page


def test_another_tenants_rows_never_appear(acme, globex, reader):
    AgentFactory(tenant=acme, name="ours")
    AgentFactory(tenant=globex, name="theirs")
    McpServerFactory(tenant=globex, server_id="theirs")
    assert [r["Agent"] for r in _csv(reader.get("/registry/agents/export.csv"))] == ["ours"]
    assert _csv(reader.get("/registry/mcp-servers/export.csv")) == []
    assert _csv(reader.get("/registry/agents/export.csv?q=theirs")) == []


def test_export_needs_the_page_capability(acme, member, client_as):
    AgentFactory(tenant=acme, name="alpha")
    executive = client_as(member(acme, Role.EXECUTIVE), acme)
    for url in ("/registry/agents/export.csv", "/registry/mcp-servers/export.csv"):
        response = executive.get(url)
        assert response.status_code == 403 and b"alpha" not in response.content


def test_a_bad_filter_on_the_export_is_a_400_naming_the_field(acme, reader):
    response = reader.get("/registry/agents/export.csv?status=exploded")
    assert response.status_code == 400 and b"status" in response.content
    assert not response["Content-Type"].startswith("text/csv")


def test_export_is_post_free(acme, member, client_as):
    operator = client_as(member(acme, Role.OPERATOR), acme)
    assert operator.post("/registry/agents/export.csv", {"name": "x"}).status_code == 405


def test_cells_that_look_like_formulas_are_quoted(acme, reader):
    McpServerFactory(tenant=acme, server_id="evil-server", publisher='=HYPERLINK("http://x")')
    McpServerFactory(tenant=acme, server_id="fine-server", publisher="Acme")
    rows = {r["Server"]: r for r in _csv(reader.get("/registry/mcp-servers/export.csv?sort=server_id"))}
    assert rows["evil-server"]["Publisher"] == '\'=HYPERLINK("http://x")'
    assert rows["fine-server"]["Publisher"] == "Acme"
    assert rows["fine-server"]["Trust tier"] == "Approved" and rows["fine-server"]["Approval"] == "Approved"


@pytest.mark.parametrize(
    ("raw", "label"),
    [("require_approval", "Require approval"), ("read-only", "Read only"), ("allow", "Allow"), ("", "")],
)
def test_human_label(raw, label):
    assert human_label(raw) == label


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_formula_safe_quotes_every_formula_prefix(value):
    assert formula_safe(value) == "'" + value and formula_safe(3) == 3 and formula_safe("ok") == "ok"
