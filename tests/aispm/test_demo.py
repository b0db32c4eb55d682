"""`make demo` tells a story on the AISPM pages: history in every chart, findings in several states."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from aispm.models import DailyPosture, Finding
from aispm.services.readiness import readiness
from approvals.models import ApprovalRequest
from policies import demo as policies_demo
from tenants.models import Tenant


def test_demo_has_thirty_days_of_shape_findings_in_states_and_real_readiness_blockers(db, monkeypatch):
    monkeypatch.setattr(policies_demo, "DECISIONS_PER_TENANT", {"acme": 400, "globex": 150})
    call_command("cavra_demo", stdout=StringIO())
    acme = Tenant.objects.get(slug="acme")
    days = list(DailyPosture.objects.filter(tenant=acme).order_by("day"))
    assert len(days) == 30
    assert len({d.score for d in days}) > 2  # the score moves: checks switched on, a rug pull fixed
    assert sum(d.decisions for d in days) > 300 and sum(d.approvals_decided for d in days) > 0
    statuses = set(Finding.objects.filter(tenant=acme).values_list("status", flat=True))
    assert {"open", "risk_accepted", "resolved"} <= statuses
    assert ApprovalRequest.objects.filter(tenant=acme, status="expired").exists()
    packet = readiness(tenant=acme)
    assert packet["ready_for_aispm_production"] is False
    assert "sso" in {b["id"] for b in packet["blockers"]}
    call_command("cavra_demo", stdout=StringIO())  # idempotent: a second run adds no findings
    assert set(Finding.objects.filter(tenant=acme).values_list("status", flat=True)) == statuses
