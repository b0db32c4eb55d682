"""`cavra sandbox`: the shipped scenarios, mapped by the real adapters and decided dry-run from a verified
bundle of the chosen rollout; nothing reaches the decision API or the evidence chain."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from cavra_engine.agents.sandbox import SCENARIOS
from evidence.models import Decision, EvidenceRecord
from policies.services import policy_pack_install_bundled, policy_pack_upload, rollout_set
from policies.services.signing import policy_trust_root
from registry.services import agent_create, agent_credential_issue
from tests.agents.conftest import run_cavra

pytestmark = pytest.mark.django_db

ALLOW_ALL = """\
apiVersion: cavra.policy/v2
metadata: {id: allow-all, title: Allow all, version: 1.0.0, description: Everything allowed.}
defaults: {any: allow}
rules: []
"""


def bundle_files(tmp_path, tenant, version):
    rollout = rollout_set(tenant=tenant, version=version, mode="enforce", actor=None)
    agent = agent_create(
        tenant=tenant, actor=None, name=f"sandbox-{version.pack.pack_id}", profile="claude-code"
    )
    _, token = agent_credential_issue(agent=agent, actor=None)
    envelope = (
        Client(HTTP_AUTHORIZATION=f"Bearer {token}").get(f"/api/v1/policy-bundles/{rollout.public_id}").json()
    )
    bundle, trust = tmp_path / "bundle.json", tmp_path / "trust-root.json"
    bundle.write_text(json.dumps(envelope))
    trust.write_text(json.dumps(policy_trust_root(tenant=tenant)))
    return bundle, trust


def sandbox(tmp_path, bundle, trust, *args):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CAVRA_REPOSITORY": "acme/payments"}
    return run_cavra(["sandbox", "run", "--bundle", str(bundle), "--trust-root", str(trust), *args], env)


def test_the_compliance_overlay_stops_every_scenario_and_nothing_is_recorded(acme, tmp_path):
    version = policy_pack_install_bundled(tenant=acme, pack_id="compliance-overlay", actor=None)
    bundle, trust = bundle_files(tmp_path, acme, version)
    decisions_before = Decision.objects.count()
    evidence_before = EvidenceRecord.objects.filter(tenant=acme).count()
    result = sandbox(tmp_path, bundle, trust, "--json")
    report = json.loads(result.stdout)
    by_id = {s["id"]: s for s in report["scenarios"]}
    assert len(by_id) == len(SCENARIOS) >= 10
    exposed = [s["id"] for s in report["scenarios"] if not s["stopped"]]
    assert exposed == [] and result.returncode == 0, json.dumps(report, indent=1)
    assert all(s["simulated"] for s in report["scenarios"])
    assert by_id["rug-pulled-tool"]["steps"][0]["rule_id"] == "registry.mcp.tool_changed"
    assert by_id["read-dotenv"]["steps"][0]["target"].endswith("/.env")
    assert [s["action"] for s in by_id["ci-push-main"]["steps"]] == ["write_file", "git_operation"]
    assert Decision.objects.count() == decisions_before
    assert EvidenceRecord.objects.filter(tenant=acme).count() == evidence_before


def test_a_permissive_rollout_exposes_scenarios_and_exits_1(acme, tmp_path):
    version = policy_pack_upload(tenant=acme, text=ALLOW_ALL, actor=None)
    bundle, trust = bundle_files(tmp_path, acme, version)
    result = sandbox(tmp_path, bundle, trust)
    assert result.returncode == 1
    assert b"EXPOSED  rm-rf-root" in result.stdout
    assert b"stopped  unknown-mcp-shell" in result.stdout  # the registry still refuses an unknown server
    one = sandbox(tmp_path, bundle, trust, "read-dotenv")
    assert one.returncode == 1 and one.stdout.count(b"EXPOSED") == 1


def test_a_tampered_bundle_or_unknown_scenario_is_refused(acme, tmp_path):
    version = policy_pack_install_bundled(tenant=acme, pack_id="baseline", actor=None)
    bundle, trust = bundle_files(tmp_path, acme, version)
    assert sandbox(tmp_path, bundle, trust, "no-such-scenario").returncode == 2
    envelope = json.loads(bundle.read_text())
    envelope["bundle"]["scope"]["mode"] = "audit_only"
    bundle.write_text(json.dumps(envelope))
    refused = sandbox(tmp_path, bundle, trust)
    assert refused.returncode == 2 and b"signature" in refused.stderr


def test_the_sandbox_page_plays_every_scenario_against_the_chosen_rollout(acme, globex, member, client_as):
    overlay = rollout_set(
        tenant=acme,
        version=policy_pack_install_bundled(tenant=acme, pack_id="compliance-overlay", actor=None),
        mode="enforce",
        actor=None,
    )
    permissive = rollout_set(
        tenant=acme,
        version=policy_pack_upload(tenant=acme, text=ALLOW_ALL, actor=None),
        repository="acme/lab",
        mode="enforce",
        actor=None,
    )
    client = client_as(member(acme, "operator"), acme)
    evidence_before = EvidenceRecord.objects.filter(tenant=acme).count()
    page = client.get("/policies/sandbox/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f"{len(SCENARIOS)} of {len(SCENARIOS)}</strong> scenarios stopped" in html
    assert overlay.public_id in html and "Claude Code reads the project&#x27;s .env" in html
    lab = client.get(f"/policies/sandbox/?rollout={permissive.public_id}").content.decode()
    assert "would run" in lab
    assert not Decision.objects.exists()
    assert EvidenceRecord.objects.filter(tenant=acme).count() == evidence_before
    theirs = client_as(member(globex, "operator"), globex)
    assert theirs.get(f"/policies/sandbox/?rollout={overlay.public_id}").status_code == 404
    assert "No policy is rolled out yet" in theirs.get("/policies/sandbox/").content.decode()
