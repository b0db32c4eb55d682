"""The activity explorer as a table (core.tables): sort, pages, human labels, CSV of the filtered rows."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest

from core.roles import Role
from core.tables import EXPORT_LIMIT
from tests.factories import DecisionFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def reviewer(acme, member, client_as):
    return client_as(member(acme, Role.SECURITY_REVIEWER), acme)


def _ids(response) -> list[str]:
    assert response.status_code == 200
    return re.findall(r'data-decision="([^"]+)"', response.content.decode())


def _csv(response) -> list[dict]:
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def _decisions(acme):
    return [
        DecisionFactory(
            tenant=acme,
            target=f"t{i}",
            action="shell_exec" if i % 2 else "read_file",
            decision="require_approval" if i % 2 else "allow",
            repository="acme/web",
            agent_ref="ci-bot",
            created_at=T0 + timedelta(minutes=i),
        )
        for i in range(6)
    ]


def test_newest_first_then_sorted_by_a_header(acme, reviewer):
    made = _decisions(acme)
    newest_first = [d.public_id for d in reversed(made)]
    assert _ids(reviewer.get("/policies/activity/")) == newest_first
    assert _ids(reviewer.get("/policies/activity/?sort=created_at")) == newest_first[::-1]
    by_target = _ids(reviewer.get("/policies/activity/?sort=-target&decision=allow"))
    assert by_target == [made[4].public_id, made[2].public_id, made[0].public_id]
    assert reviewer.get("/policies/activity/?sort=evidence__leaf").status_code == 200  # not a column: ignored
    assert reviewer.get("/policies/activity/?page=999&sort=x").status_code == 200


def test_labels_are_words_and_csv_equals_the_filtered_page(acme, globex, reviewer):
    made = _decisions(acme)
    DecisionFactory(tenant=globex, target="globex-secret", decision="require_approval")
    page = reviewer.get("/policies/activity/?decision=require_approval&sort=target")
    html = page.content.decode()
    assert "Require approval" in html and "Shell exec" in html and "shell_exec" not in html
    rows = _csv(reviewer.get("/policies/activity/export.csv?decision=require_approval&sort=target"))
    assert [r["Decision id"] for r in rows] == _ids(page) == [made[i].public_id for i in (1, 3, 5)]
    assert {r["Decision"] for r in rows} == {"Require approval"} and rows[0]["Action"] == "Shell exec"
    assert rows[0]["Agent"] == "ci-bot" and rows[0]["Time"] == "2026-03-01 12:01:00 UTC"
    assert "globex-secret" not in html and all(r["Target"] != "globex-secret" for r in rows)


def test_the_page_is_paginated_but_the_export_holds_every_filtered_row(acme, reviewer):
    DecisionFactory.create_batch(55, tenant=acme, target="=cmd|' /C calc'!A0")
    assert len(_ids(reviewer.get("/policies/activity/"))) == 50
    assert len(_ids(reviewer.get("/policies/activity/?page=2"))) == 5
    rows = _csv(reviewer.get("/policies/activity/export.csv"))
    assert len(rows) == 55 and rows[0]["Target"] == "'=cmd|' /C calc'!A0"  # formula-safe


def test_export_needs_the_capability_and_a_bad_filter_is_a_400(acme, member, client_as, reviewer):
    DecisionFactory(tenant=acme, target="secret-target")
    recipient = client_as(member(acme, Role.REPORT_RECIPIENT), acme)
    denied = recipient.get("/policies/activity/export.csv")
    assert denied.status_code == 403 and b"secret-target" not in denied.content
    bad = reviewer.get("/policies/activity/export.csv?since=not-a-date")
    assert (
        bad.status_code == 400 and b"since" in bad.content and not bad["Content-Type"].startswith("text/csv")
    )


def test_an_export_over_the_limit_asks_for_narrower_filters(acme, reviewer, monkeypatch):
    DecisionFactory.create_batch(3, tenant=acme)
    monkeypatch.setattr("core.tables.EXPORT_LIMIT", 2)
    response = reviewer.get("/policies/activity/export.csv")
    assert response.status_code == 400 and b"narrow the filters" in response.content
    assert EXPORT_LIMIT == 10_000
