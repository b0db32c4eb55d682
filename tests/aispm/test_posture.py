"""Rollups, the score through the API, coverage, near-misses, timeline and readiness, on a fixed data set."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from aispm.models import DecisionRollup, Finding
from aispm.services.findings import findings_refresh
from aispm.services.readiness import readiness_packet_verify
from aispm.services.rollups import rollup_backfill, rollup_day
from evidence.models import Decision
from evidence.services import chain_verify, checkpoint_create, trust_root_export
from policies.services import environment_ensure, rollout_set
from tenants.models import SsoProvider
from tests.policies.conftest import ask

WEIGHTS = {"block": 16, "require_approval": 10, "audit_only": 2, "allow": 0}
FINDING_WEIGHTS = {"critical": 30, "high": 18, "medium": 9, "low": 3}


@pytest.fixture
def history(acme, past_decision):
    """A fixed 30-day story: blocks, approvals and audit-only allows across surfaces, plus two findings."""
    for day in range(0, 30):
        for _ in range(30):
            past_decision(day, "allow", repository="acme/web", agent_ref="agt_a")
        if day % 3 == 0:
            past_decision(day, "block", repository="acme/web", agent_ref="agt_a", rule_id="baseline.secrets.dotenv",
                          severity="high", surface="sensitive_data", compliance={"soc2": ["CC6.1"]})  # fmt: skip
        if day % 5 == 0:
            past_decision(day, "require_approval", repository="acme/infra", agent_ref="agt_b", action="execute_command",
                          target="terraform apply", rule_id="terraform.apply", severity="critical",
                          surface="infrastructure_iac", compliance={"soc2": ["CC8.1"], "eu_ai_act": ["Art.14"]})  # fmt: skip
        if day % 7 == 0:
            past_decision(day, "allow", policy_mode="audit_only", rule_id="destructive-commands.rm.catastrophic",
                          severity="critical", surface="runtime_commands",
                          context={"would_have": {"decision": "block"}})  # fmt: skip
    past_decision(45, "block", rule_id="old.rule", severity="high")  # outside the 30-day window
    Finding.objects.create(tenant=acme, check_id="x.high", subject_key="a", title="High", surface="mcp_tools",
                           severity="high")  # fmt: skip
    Finding.objects.create(tenant=acme, check_id="x.low", subject_key="b", title="Low", surface="general_policy",
                           severity="low", status=Finding.Status.ACKNOWLEDGED)  # fmt: skip
    Finding.objects.create(tenant=acme, check_id="x.crit", subject_key="c", title="Accepted", surface="general_policy",
                           severity="critical", status=Finding.Status.RISK_ACCEPTED)  # fmt: skip
    rollup_backfill(tenant=acme)
    return acme


def _independent_score(acme, **scope) -> tuple[int, int]:
    """Straight from the stored rows, without any aispm code: (headline, v1)."""
    since = (timezone.now() - timedelta(days=29)).replace(hour=0, minute=0, second=0, microsecond=0)
    raw, total = 0, 0
    for d in Decision.objects.filter(tenant=acme, created_at__gte=since, **scope):
        softened = (
            d.decision == "allow" and d.policy_mode == "audit_only" and (d.context or {}).get("would_have")
        )
        raw += WEIGHTS["audit_only" if softened else d.decision]
        total += 1
    findings = sum(
        FINDING_WEIGHTS[f.severity]
        for f in Finding.objects.filter(tenant=acme, status__in=["open", "acknowledged"], **scope)
    )
    headline = 100 - (raw * 1000 / total / 100 if total else 0) - findings
    v1 = 100 - raw - findings
    clamp = lambda x: int(max(0, min(100, x)) + 0.5)  # noqa: E731 - round half up after clamping
    return clamp(headline), clamp(v1)


def test_api_score_matches_an_independent_computation_to_the_integer(history, member, client_as):
    officer = member(history, "compliance_officer")
    body = client_as(officer, history).get("/api/v1/aispm/posture").json()
    headline, v1 = _independent_score(history)
    assert (body["score"]["score"], body["score"]["v1_score"]) == (headline, v1)
    assert v1 == 0 and 0 < headline < 100  # raw weights saturate; the headline does not
    points = sum(c["points"] for c in body["score"]["components"])
    assert body["score"]["score"] == int(max(0, min(100, 100 - points)) + 0.5)
    assert {c["kind"] for c in body["score"]["components"]} == {"decisions", "findings"}
    sensitive = next(s for s in body["by_surface"] if s["key"] == "sensitive_data")
    assert sensitive["score"] == _independent_score(history, surface="sensitive_data")[0]
    assert len(body["trend"]) == 30 and body["trend"][-1]["score"] == headline


def test_rollups_equal_a_direct_aggregate_and_todays_partial_is_live(
    history, past_decision, member, client_as
):
    rolled = sum(DecisionRollup.objects.filter(tenant=history).values_list("count", flat=True))
    since = (timezone.now() - timedelta(days=29)).date()
    assert rolled == Decision.objects.filter(tenant=history, created_at__date__gte=since).count()
    officer = member(history, "compliance_officer")
    before = client_as(officer, history).get("/api/v1/aispm/posture").json()["outcomes"]
    past_decision(0, "block", rule_id="baseline.secrets.dotenv", severity="high", surface="sensitive_data")
    after = client_as(officer, history).get("/api/v1/aispm/posture").json()["outcomes"]
    assert after["block"] == before["block"] + 1  # today comes from live data, no rollup run needed
    rollup_day(tenant=history, day=timezone.now().date())
    rollup_day(tenant=history, day=timezone.now().date())  # idempotent
    assert client_as(officer, history).get("/api/v1/aispm/posture").json()["outcomes"] == after


def test_coverage_statuses_and_drill_down_to_evidence(acme, enforced, agent_client, member, client_as):
    for _ in range(2):
        ask(agent_client, action="read_file", target=".env")
    officer = member(acme, "compliance_officer")
    client = client_as(officer, acme)
    [soc2] = client.get("/api/v1/aispm/control-coverage?framework=soc2").json()
    controls = {c["id"]: c for c in soc2["controls"]}
    assert controls["CC6.1"]["status"] == "covered" and controls["CC6.1"]["decisions"] == 2
    assert controls["CC8.1"]["status"] == "partial"  # terraform.apply is in force, never exercised
    assert controls["CC6.1"]["rules"] == ["baseline.secrets.dotenv"]
    assert controls["A1.3"]["status"] == "not_covered"
    page = client.get("/aispm/coverage/soc2/controls/CC6.1/")
    assert page.status_code == 200
    record = Decision.objects.filter(tenant=acme, rule_id="baseline.secrets.dotenv").first().evidence
    assert f"/evidence/records/{record.public_id}/" in page.content.decode()
    csv = client.get("/aispm/coverage/soc2/export.csv").content.decode()
    assert csv.splitlines()[0].startswith("control_id,title,status") and "CC6.1" in csv
    bad = client.get("/api/v1/aispm/control-coverage?framework=nope")
    assert bad.status_code == 400 and "framework" in bad.json()["errors"]
    assert client.get("/aispm/coverage/nope/").status_code == 404
    assert client.get("/aispm/coverage/soc2/controls/NOPE/").status_code == 404


def test_near_misses_group_high_and_critical_holds_and_blocks(history, member, client_as):
    client = client_as(member(history, "auditor"), history)
    body = client.get("/api/v1/aispm/near-misses?by=rule_id").json()
    keys = {g["key"]: g for g in body["groups"]}
    assert set(keys) == {"baseline.secrets.dotenv", "terraform.apply"}  # audit-only allows are not held
    assert keys["terraform.apply"]["require_approval"] == 6 and keys["terraform.apply"]["critical"] == 6
    assert keys["baseline.secrets.dotenv"]["block"] == 10
    page = client.get("/aispm/near-misses/?by=rule_id&rule_id=terraform.apply")
    assert page.status_code == 200 and page.content.decode().count("terraform apply") == 6
    assert client.get("/api/v1/aispm/near-misses?by=bogus").status_code == 400


def test_finding_api_filters_transitions_and_errors(history, member, client_as):
    officer = client_as(member(history, "compliance_officer"), history)
    executive = client_as(member(history, "executive"), history)
    listed = officer.get("/api/v1/aispm/findings?status=unresolved").json()["results"]
    assert {f["title"] for f in listed} == {"High", "Low"}
    assert officer.get("/api/v1/aispm/findings?severity=urgent").status_code == 400
    high = next(f for f in listed if f["title"] == "High")
    url = f"/api/v1/aispm/findings/{high['id']}/transitions"
    bad = officer.post(url, json.dumps({"action": "risk_accept"}), content_type="application/json")
    assert bad.status_code == 400 and set(bad.json()["errors"]) >= {"reason", "until"}
    assert (
        executive.post(
            url, json.dumps({"action": "acknowledge"}), content_type="application/json"
        ).status_code
        == 403
    )
    ok = officer.post(
        url, json.dumps({"action": "acknowledge", "note": "seen"}), content_type="application/json"
    )
    assert ok.status_code == 200 and ok.json()["status"] == "acknowledged"
    again = officer.post(url, json.dumps({"action": "acknowledge"}), content_type="application/json")
    assert again.status_code == 400 and "status" in again.json()["errors"]
    until = (timezone.now() + timedelta(days=10)).isoformat()
    accepted = officer.post(
        url,
        json.dumps({"action": "risk_accept", "reason": "pilot", "until": until}),
        content_type="application/json",
    )
    assert accepted.status_code == 200 and accepted.json()["status"] == "risk_accepted"


def test_finding_pages_for_officer_and_executive(history, member, client_as):
    finding = Finding.objects.get(tenant=history, title="High")
    officer = client_as(member(history, "compliance_officer"), history)
    page = officer.get(f"/aispm/findings/{finding.public_id}/")
    assert page.status_code == 200 and b"Act on it" in page.content
    exec_page = client_as(member(history, "executive"), history).get(f"/aispm/findings/{finding.public_id}/")
    assert exec_page.status_code == 200 and b"Act on it" not in exec_page.content
    bad = officer.post(
        f"/aispm/findings/{finding.public_id}/transition/", {"action": "risk_accept", "reason": ""}
    )
    assert bad.status_code == 422 and b"Say why the risk is accepted." in bad.content
    finding.refresh_from_db()
    assert finding.status == "open"
    assert officer.get("/aispm/findings/?severity=urgent").status_code == 400
    csv = officer.get("/aispm/findings.csv?status=unresolved").content.decode().splitlines()
    assert csv[0].startswith("Severity,Finding,Finding id,Check") and len(csv) == 3  # header + High + Low
    assert officer.get("/aispm/findings.csv?severity=urgent").status_code == 400


def test_pages_and_lists_use_a_fixed_number_of_queries(history, member, client_as):
    client = client_as(member(history, "compliance_officer"), history)
    for url in ("/aispm/", "/aispm/findings/", "/api/v1/aispm/findings", "/api/v1/aispm/posture"):
        with CaptureQueriesContext(connection) as few:
            assert client.get(url).status_code == 200
        for n in range(25):
            Finding.objects.create(tenant=history, check_id=f"q.{url}.{n}", subject_key="s", title="t",
                                   surface="general_policy", severity="low")  # fmt: skip
        with CaptureQueriesContext(connection) as many:
            assert client.get(url).status_code == 200
        assert len(many) == len(few), url


def test_timeline_lists_governance_events_not_decisions(acme, enforced, agent_client, member, client_as):
    ask(agent_client, action="read_file", target=".env")
    findings_refresh(tenant=acme)
    client = client_as(member(acme, "auditor"), acme)
    kinds = {e["kind"] for e in client.get("/api/v1/aispm/timeline").json()["events"]}
    assert "decision" not in kinds and "aispm.finding.opened" in kinds
    assert {e["kind"] for e in client.get("/api/v1/aispm/timeline?kind=aispm.").json()["events"]} <= {
        "aispm.finding.opened"
    }
    assert client.get("/api/v1/aispm/timeline?before=x").status_code == 400
    assert client.get("/aispm/timeline/?before=x").status_code == 400
    assert client.get(f"/aispm/timeline/?before={2**70}").status_code == 400
    assert client.get(f"/api/v1/aispm/timeline?before={2**70}").status_code == 400


def test_readiness_lists_real_blockers_and_turns_ready_when_fixed(
    acme, compliance_version, member, client_as
):
    client = client_as(member(acme, "executive"), acme)
    packet = client.get("/api/v1/aispm/readiness").json()
    assert packet["ready_for_aispm_production"] is False
    assert {b["id"] for b in packet["blockers"]} == {"evidence_chain", "production_enforced", "sso"}
    assert readiness_packet_verify(packet, trust_root_export(acme)) is None
    # Fix each blocker for real.
    environment_ensure(tenant=acme, name="prod")
    rollout_set(tenant=acme, version=compliance_version, mode="enforce", actor=None, environment="prod")
    SsoProvider.objects.create(tenant=acme, name="Okta", issuer_url="https://idp.acme.test", client_id="c",
                               provider_id="acme-okta")  # fmt: skip
    checkpoint_create(tenant=acme)
    assert chain_verify(tenant=acme).ok
    packet = client.get("/api/v1/aispm/readiness").json()
    assert packet["blockers"] == [] and packet["ready_for_aispm_production"] is True
    assert {c["id"] for c in packet["checks"] if c["status"] == "not_evaluated"} == {
        "admin_mfa", "report_delivered", "backup_fresh",
    }  # fmt: skip
    tampered = {**packet, "ready_for_aispm_production": False}
    assert readiness_packet_verify(tampered, trust_root_export(acme)) == "signature does not verify"
    page = client.get("/aispm/readiness/")
    assert page.status_code == 200 and b"Ready" in page.content
    download = client.get("/aispm/readiness/?download=html")
    assert download["Content-Disposition"].startswith("attachment") and b"Ready" in download.content


def test_a_rug_pulled_tool_blocks_readiness_until_risk_accepted(acme, member, client_as):
    from registry.models import McpTool
    from registry.services import mcp_server_create

    server = mcp_server_create(tenant=acme, actor=None, server_id="gh", name="GitHub", command="npx gh")
    McpTool.objects.create(tenant=acme, server=server, name="create_issue", status=McpTool.Status.CHANGED)
    client = client_as(member(acme, "compliance_officer"), acme)
    blockers = {b["id"] for b in client.get("/api/v1/aispm/readiness").json()["blockers"]}
    assert "critical_findings" in blockers


def test_home_panels_for_executive_and_officer(history, member, client_as):
    home = client_as(member(history, "executive"), history).get("/").content.decode()
    assert 'data-testid="home-score"' in home and 'data-chart="line"' in home
    finding = Finding.objects.get(tenant=history, title="High")
    assert f"/aispm/findings/{finding.public_id}/" in home
    officer_home = client_as(member(history, "compliance_officer"), history).get("/").content.decode()
    assert "Findings to act on" in officer_home and "Coverage gaps" in officer_home


def test_beat_tasks_run_eagerly(acme, past_decision):
    from aispm.tasks import refresh_all_findings, rollup_all_tenants

    past_decision(0, "block", rule_id="r", severity="high")
    assert rollup_all_tenants.delay().get() >= 1
    assert DecisionRollup.objects.filter(tenant=acme, day=timezone.now().date(), outcome="block").exists()
    assert refresh_all_findings.delay().get() >= 1
    assert Finding.objects.filter(tenant=acme, check_id="identity.sso_off").exists()
