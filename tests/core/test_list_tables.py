"""Every list on the shared table (core.table_views): sessions, approval history, evidence records, findings,
report archive and schedules, connectors. Each is checked the same way: a header sorts, an unknown sort key
is ignored (200), a filter and the sort survive together (links and CSV), the CSV holds exactly the filtered,
sorted rows with human labels, a formula is neutralised, another tenant's rows never appear, and a role
without the list's capability is refused on the page and on the export."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.db import transaction
from django.utils import timezone

from aispm.models import Finding
from connectors.models import Connector
from core.roles import Role
from evidence.services import evidence_append
from reports.models import ReportRun, ReportSchedule
from tests.factories import AgentFactory, AgentSessionFactory, ApprovalRequestFactory, ConnectorFactory

pytestmark = pytest.mark.django_db

FORMULA = '=HYPERLINK("http://x")'


def _session(tenant, name, chosen):
    return AgentSessionFactory(
        tenant=tenant, agent_name=name, repository="acme/web" if chosen else "acme/api"
    ).public_id


def _approval(tenant, name, chosen):
    agent = AgentFactory(tenant=tenant, name=name)
    return ApprovalRequestFactory(agent=agent, repository="acme/web" if chosen else "acme/api").public_id


def _approval_formula(tenant):
    return ApprovalRequestFactory(agent=AgentFactory(tenant=tenant), target=FORMULA).public_id


def _record(tenant, name, chosen, *, subject="s"):
    payload = {"repository": "acme/web" if chosen else "acme/api"}
    with transaction.atomic():
        leaf = evidence_append(tenant=tenant, kind=f"test.{name}", subject=subject, payload=payload)
    return leaf.record.public_id


def _finding(tenant, name, chosen):
    return Finding.objects.create(
        tenant=tenant, check_id=f"t.{name}", subject_key=name, title=name, surface="mcp_tools",
        severity="high", repository="acme/web" if chosen else "acme/api",
    ).public_id  # fmt: skip


def _report(tenant, name, chosen):
    return ReportRun.objects.create(
        tenant=tenant, report_type="executive_brief", title=name, manifest_sha256="0" * 64,
        trigger=ReportRun.Trigger.RUN_NOW if chosen else ReportRun.Trigger.ON_DEMAND,
    ).public_id  # fmt: skip


def _schedule(tenant, name, chosen):
    return ReportSchedule.objects.create(
        tenant=tenant, name=name, report_type="executive_brief", paused=not chosen,
        recipient_roles=["compliance_officer"],
    ).public_id  # fmt: skip


def _connector(tenant, name, chosen):
    return ConnectorFactory(tenant=tenant, name=name, enabled=chosen).public_id


@dataclass(frozen=True)
class Spec:
    url: str
    export: str
    row: str  # the data-… attribute naming a row
    make: Callable  # (tenant, name, chosen) -> the row's id; `name` is the sorted column's value
    sort: str
    chosen: dict  # the filter that keeps only the rows made with chosen=True
    reader: str
    refused: str
    column: str  # the sorted column's CSV header
    formula: Callable | None = None  # (tenant) -> id of a row holding FORMULA in `formula_column`
    formula_column: str = ""
    shown: Callable = str  # the sorted column's CSV value for a row made with `name`

    def __str__(self):
        return self.url


SPECS = [
    Spec("/policies/activity/sessions/", "/policies/activity/sessions/export.csv", "data-session", _session,
         "agent_name", {"repository": "acme/web"}, Role.AUDITOR, Role.EXECUTIVE, "Agent",
         lambda t: _session(t, FORMULA, True), "Agent"),
    Spec("/approvals/history/", "/approvals/history/export.csv", "data-approval", _approval, "agent",
         {"repository": "acme/web"}, Role.SECURITY_REVIEWER, Role.OPERATOR, "Agent", _approval_formula, "Target"),
    Spec("/evidence/", "/evidence/export.csv", "data-record", _record, "kind", {"repository": "acme/web"},
         Role.AUDITOR, Role.OPERATOR, "Kind", lambda t: _record(t, "f", True, subject=FORMULA), "Subject",
         lambda name: f"test.{name}"),
    Spec("/aispm/findings/", "/aispm/findings.csv", "data-finding", _finding, "title",
         {"repository": "acme/web"}, Role.COMPLIANCE_OFFICER, Role.OPERATOR, "Finding",
         lambda t: _finding(t, FORMULA, True), "Finding"),
    Spec("/reports/", "/reports/export.csv", "data-report", _report, "title", {"trigger": "run_now"},
         Role.COMPLIANCE_OFFICER, Role.AUDITOR, "Report", lambda t: _report(t, FORMULA, True), "Report"),
    Spec("/reports/schedules/", "/reports/schedules/export.csv", "data-schedule", _schedule, "name",
         {"paused": "false"}, Role.COMPLIANCE_OFFICER, Role.AUDITOR, "Schedule",
         lambda t: _schedule(t, FORMULA, True), "Schedule"),
    Spec("/connectors/", "/connectors/export.csv", "data-connector", _connector, "name", {"enabled": "true"},
         Role.AUDITOR, Role.OPERATOR, "Name", lambda t: _connector(t, FORMULA, True), "Name"),
]  # fmt: skip
NAMES = ("bravo", "alpha", "charlie")


def _ids(spec, response) -> list[str]:
    assert response.status_code == 200, response.content[:400]
    return re.findall(rf'{spec.row}="([^"]+)"', response.content.decode())


def _csv(response) -> list[dict]:
    assert response.status_code == 200, response.content[:400]
    assert response["Content-Type"].startswith("text/csv") and response["Cache-Control"] == "no-store"
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def _world(spec, tenant):
    """Three chosen rows (named out of order) and one the filter leaves out; ids by name."""
    made = {name: spec.make(tenant, name, True) for name in NAMES}
    made["delta"] = spec.make(tenant, "delta", False)
    return made


@pytest.fixture(params=SPECS, ids=str)
def spec(request):
    return request.param


def test_a_header_sorts_and_the_filter_and_sort_survive_together(spec, acme, client_with_role):
    made = _world(spec, acme)
    client = client_with_role(acme, spec.reader)
    query = {**spec.chosen, "sort": spec.sort}
    ascending = _ids(spec, client.get(spec.url, query))
    assert ascending == [made[n] for n in ("alpha", "bravo", "charlie")]
    descending = client.get(spec.url, {**spec.chosen, "sort": f"-{spec.sort}"})
    assert _ids(spec, descending) == ascending[::-1]
    html = descending.content.decode()
    # The header links keep the filter and carry the next sort; they swap only the table region.
    link = re.search(
        rf'<a href="([^"]+)" hx-get="[^"]+" hx-target="#results"[^>]*data-sort="{spec.sort}"', html
    )
    assert link and urlencode(spec.chosen) in link.group(1) and f"sort={spec.sort}" in link.group(1)
    assert 'aria-sort="descending"' in html and 'scope="col"' in html
    # The filter form submits the current sort with the filters.
    assert re.search(rf'<input type="hidden" name="sort" value="-{spec.sort}" form="[\w-]+-filters">', html)
    fragment = client.get(spec.url, {**spec.chosen, "sort": spec.sort}, HTTP_HX_REQUEST="true")
    assert b"<html" not in fragment.content and _ids(spec, fragment) == ascending


@pytest.mark.parametrize("sort", ["nonsense", "-", "tenant__name", "__class__", "x" * 300])
def test_an_unknown_sort_key_is_ignored(spec, acme, client_with_role, sort):
    spec.make(acme, "alpha", True)
    client = client_with_role(acme, spec.reader)
    assert len(_ids(spec, client.get(spec.url, {**spec.chosen, "sort": sort}))) == 1
    assert len(_csv(client.get(spec.export, {**spec.chosen, "sort": sort}))) == 1


def test_the_csv_holds_exactly_the_filtered_sorted_rows(spec, acme, client_with_role):
    made = _world(spec, acme)
    client = client_with_role(acme, spec.reader)
    query = {**spec.chosen, "sort": f"-{spec.sort}"}
    page = client.get(spec.url, query)
    export = client.get(spec.export, query)
    assert export["Content-Disposition"].startswith('attachment; filename="acme-')
    rows = _csv(export)
    assert len(rows) == len(_ids(spec, page)) == 3 and made["delta"] not in export.content.decode()
    assert [r[spec.column] for r in rows] == [spec.shown(n) for n in ("charlie", "bravo", "alpha")]
    assert "<" not in "".join(v for r in rows for v in r.values())  # values, not the page's HTML
    # The page links to its export with its own query string.
    assert re.search(rf'href="{re.escape(spec.export)}\?[^"]*sort=-{spec.sort}', page.content.decode())


def test_a_formula_is_neutralised_in_the_csv(spec, acme, client_with_role):
    spec.formula(acme)
    rows = _csv(client_with_role(acme, spec.reader).get(spec.export, spec.chosen))
    assert [r[spec.formula_column] for r in rows] == ["'" + FORMULA]


def test_another_tenants_rows_are_absent(spec, acme, globex, client_with_role):
    ours = spec.make(acme, "alpha", True)
    theirs = spec.make(globex, "bravo", True)
    client = client_with_role(acme, spec.reader)
    assert _ids(spec, client.get(spec.url, spec.chosen)) == [ours]
    export = client.get(spec.export, spec.chosen)
    assert theirs not in export.content.decode() and len(_csv(export)) == 1


def test_a_role_without_the_capability_is_refused_on_page_and_export(spec, acme, client_with_role):
    spec.make(acme, "alpha", True)
    client = client_with_role(acme, spec.refused)
    assert client.get(spec.url).status_code == 403
    assert client.get(spec.export).status_code == 403


def test_a_bad_filter_is_a_400_on_page_and_export_never_a_file(acme, client_with_role):
    client = client_with_role(acme, Role.TENANT_ADMIN)
    for url in ("/aispm/findings.csv", "/reports/export.csv", "/connectors/export.csv"):
        response = client.get(url, {"severity": "urgent", "trigger": "soon", "kind": "pigeon"})
        assert response.status_code == 400 and not response["Content-Type"].startswith("text/csv"), url


def test_recent_times_read_relative_with_the_exact_time_on_hover(acme, client_with_role):
    session = AgentSessionFactory(tenant=acme, started_at=timezone.now() - timedelta(hours=3))
    html = client_with_role(acme, Role.AUDITOR).get("/policies/activity/sessions/").content.decode()
    row = html[html.index(f'data-session="{session.public_id}"') :]
    assert re.search(
        r'<time datetime="[^"]+" title="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC">3\xa0hours ago</time>', row
    )


def test_labels_are_words_not_slugs(acme, client_with_role):
    _schedule(acme, "weekly", True)
    ConnectorFactory(tenant=acme, name="soc", event_types=["approval.pending"], min_severity="high")
    client = client_with_role(acme, Role.TENANT_ADMIN)
    schedules = _csv(client.get("/reports/schedules/export.csv"))
    assert schedules[0]["Recipients"] == "Compliance officer" and schedules[0]["State"] == "Active"
    assert schedules[0]["Report"] != "executive_brief"
    connectors = _csv(client.get("/connectors/export.csv"))
    assert connectors[0]["Health"] == "Unknown" and connectors[0]["From severity"] == "High"
    assert connectors[0]["Kind"] == Connector.Kind.WEBHOOK.label != "webhook"
