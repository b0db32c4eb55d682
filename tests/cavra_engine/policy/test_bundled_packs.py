"""The bundled policy packs: each loads, every embedded test passes, and the CLI lists them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cavra_engine.policy import (
    ActionRequest,
    compile_pack,
    evaluate,
    list_bundled_packs,
    load_bundled_pack,
    run_pack_tests,
)

PACKS_DIR = Path(__file__).resolve().parents[3] / "cavra_engine" / "packs"
PACK_IDS = [
    "baseline",
    "destructive-commands",
    "supply-chain",
    "git",
    "cloud-iam",
    "kubernetes-prod",
    "terraform",
    "scm-admin",
    "mcp-governance",
    "data-exfiltration",
    "databases",
    "compliance-overlay",
]
MIN_TESTS_PER_PACK = 20
MIN_TESTS_TOTAL = 300


@pytest.fixture(scope="module")
def compiled_packs():
    return {pack_id: compile_pack(load_bundled_pack(pack_id)) for pack_id in PACK_IDS}


def test_every_pack_file_is_expected():
    # a new pack must be added here (and to README.md) so its tests are counted
    assert sorted(path.stem for path in PACKS_DIR.glob("*.yaml")) == sorted(PACK_IDS)


@pytest.mark.parametrize("pack_id", PACK_IDS)
def test_embedded_tests_pass(compiled_packs, pack_id):
    results = run_pack_tests(compiled_packs[pack_id])
    assert len(results) >= MIN_TESTS_PER_PACK
    failures = [
        f"{r.name}: expected {r.expected_decision} ({r.expected_rule}), got {r.actual.decision} ({r.actual.rule_id})"
        for r in results
        if not r.passed
    ]
    assert failures == []
    # every case pins the deciding rule (or null for the pack default), not only the decision
    assert all(r.checks_rule for r in results)


@pytest.mark.parametrize("pack_id", PACK_IDS)
def test_tests_cover_every_decision(compiled_packs, pack_id):
    decisions = {r.expected_decision for r in run_pack_tests(compiled_packs[pack_id])}
    assert {"allow", "block"} <= decisions or {"allow", "require_approval"} <= decisions
    assert "allow" in decisions  # each pack shows what it lets through


def test_total_embedded_tests(compiled_packs):
    total = sum(len(run_pack_tests(compiled)) for compiled in compiled_packs.values())
    assert total >= MIN_TESTS_TOTAL


@pytest.mark.parametrize("pack_id", PACK_IDS)
def test_every_own_rule_is_exercised(compiled_packs, pack_id):
    """Each rule a pack declares decides at least one of its own tests."""
    own = {rule["id"] for rule in load_bundled_pack(pack_id).data.get("rules", [])}
    if pack_id == "compliance-overlay":
        assert own == set()  # an overlay maps controls, it declares no rules
        return
    decided = {r.actual.rule_id for r in run_pack_tests(compiled_packs[pack_id]) if r.passed}
    assert own - decided == set()


def test_digest_is_stable_and_distinct(compiled_packs):
    for pack_id in PACK_IDS:
        assert compile_pack(load_bundled_pack(pack_id)).digest == compiled_packs[pack_id].digest
    # a digest names one pack's content: no two bundled packs share one
    assert len({compiled.digest for compiled in compiled_packs.values()}) == len(PACK_IDS)


def test_compliance_overlay_attaches_controls(compiled_packs):
    overlay = compiled_packs["compliance-overlay"]
    verdict = evaluate(overlay, ActionRequest(action="read_file", target=".env", repo_root="/repo"))
    assert verdict.decision == "block"
    assert verdict.rule_id == "baseline.secrets.dotenv"
    assert "CC6.1" in verdict.compliance["soc2"]
    assert "A.5.17" in verdict.compliance["iso27001"]
    assert "8.6.2" in verdict.compliance["pci_dss"]
    assert "PS.1.1" in verdict.compliance["nist_ssdf"]

    verdict = evaluate(
        overlay, ActionRequest(action="execute_command", target="terraform apply", repo_root="/repo")
    )
    assert verdict.decision == "require_approval"
    assert "Art.14" in verdict.compliance["eu_ai_act"]

    # the parent pack alone carries only the rule's own controls
    plain = evaluate(
        compiled_packs["baseline"], ActionRequest(action="read_file", target=".env", repo_root="/repo")
    )
    assert "pci_dss" not in plain.compliance


def test_compliance_overlay_changes_no_decision(compiled_packs):
    """The overlay maps controls only: every parent's own tests decide the same through the overlay."""
    overlay = compiled_packs["compliance-overlay"]
    for pack_id in PACK_IDS[:-1]:
        compiled = compiled_packs[pack_id]
        for case, result in zip(compiled.tests, run_pack_tests(compiled), strict=True):
            if result.expected_rule is None:
                continue  # pack defaults differ once packs are combined (e.g. unknown MCP server, network)
            fields = {
                k: case[k]
                for k in ("repository", "environment", "agent_profile", "git", "mcp", "network", "context")
                if k in case
            }
            verdict = evaluate(
                overlay,
                ActionRequest(
                    action=case["action"],
                    target=str(case["target"]),
                    repo_root=case.get("repo_root", "/repo"),
                    **fields,
                ),
            )
            if result.expected_decision == "block":
                assert verdict.decision == "block", (pack_id, result.name)
            else:
                assert verdict.decision in (result.expected_decision, "block"), (pack_id, result.name)


def test_readme_lists_every_pack():
    readme = (PACKS_DIR / "README.md").read_text()
    for pack_id in PACK_IDS:
        assert f"`{pack_id}`" in readme


def test_list_bundled_packs_api(compiled_packs):
    infos = {info.id: info for info in list_bundled_packs()}
    assert set(PACK_IDS) <= set(infos)
    for pack_id in PACK_IDS:
        assert infos[pack_id].title
        assert infos[pack_id].digest == compiled_packs[pack_id].digest


def test_cli_policy_list_json(compiled_packs):
    cli = Path(sys.executable).with_name("cavra")
    out = subprocess.run([str(cli), "policy", "list", "--json"], capture_output=True, text=True, check=True)
    packs = {entry["id"]: entry for entry in json.loads(out.stdout)}
    assert set(PACK_IDS) <= set(packs)
    for pack_id in PACK_IDS:
        entry = packs[pack_id]
        assert entry["title"] and entry["version"] == "1.0.0"
        assert entry["digest"] == compiled_packs[pack_id].digest


def test_cli_policy_test_passes_on_every_pack():
    cli = Path(sys.executable).with_name("cavra")
    files = [str(PACKS_DIR / f"{pack_id}.yaml") for pack_id in PACK_IDS]
    out = subprocess.run([str(cli), "policy", "test", *files], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
