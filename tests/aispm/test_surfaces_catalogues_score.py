"""Pure pieces: surface classification, the control catalogues, the score formula."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from aispm.catalogue import frameworks
from aispm.score import posture_score
from cavra_engine.surfaces import SURFACES, classify_surface

PACKS = Path(__file__).resolve().parents[2] / "cavra_engine" / "packs"


@pytest.mark.parametrize(
    ("action", "rule", "target", "surface"),
    [
        ("read_file", "baseline.secrets.dotenv", ".env", "sensitive_data"),
        ("read_file", None, "config/.env.production", "sensitive_data"),
        ("read_file", None, "/home/me/.ssh/id_ed25519", "sensitive_data"),
        ("execute_command", None, "cat ~/.aws/credentials", "sensitive_data"),
        ("execute_command", None, "printenv", "sensitive_data"),
        ("execute_command", "databases.sql.drop-database", "psql -c 'DROP DATABASE x'", "sensitive_data"),
        ("execute_command", None, "terraform apply", "infrastructure_iac"),
        ("execute_command", None, "sudo /usr/local/bin/kubectl delete ns prod", "infrastructure_iac"),
        ("write_file", None, "infra/main.tf", "infrastructure_iac"),
        ("write_file", None, ".github/workflows/ci.yml", "infrastructure_iac"),
        ("execute_command", "kubernetes-prod.delete", "kubectl delete pod x", "infrastructure_iac"),
        ("mcp_tool_call", None, "github:create_issue", "mcp_tools"),
        ("mcp_tool_call", "registry.mcp.server_unknown", "evil:run", "mcp_tools"),
        ("execute_command", "mcp-governance.tool.shell", "x", "mcp_tools"),
        ("mcp_tool_call", "mcp-governance.tool.reveal-secret", "vault:read", "sensitive_data"),
        ("git_operation", None, "push origin main", "source_control"),
        ("execute_command", "git.push.force-protected", "git push -f origin main", "source_control"),
        ("execute_command", None, "gh pr merge 12", "source_control"),
        ("write_file", None, ".git/hooks/pre-commit", "source_control"),
        ("execute_command", "destructive-commands.rm.catastrophic", "rm -rf /", "runtime_commands"),
        ("execute_command", None, "pytest -q", "runtime_commands"),
        ("execute_command", None, "FOO=1 env npm test", "runtime_commands"),
        ("execute_command", "commands.block", "shutdown now", "runtime_commands"),
        ("read_file", None, "src/app.py", "general_policy"),
        ("network_request", None, "https://example.com", "general_policy"),
        ("read_file", "portal.no_policy", "src/app.py", "general_policy"),
        ("execute_command", "mode.strict", "terraform plan", "infrastructure_iac"),
    ],
)
def test_classify_surface(action, rule, target, surface):
    assert classify_surface(action, rule, target) == surface


def test_every_classification_is_one_of_the_six():
    for action in (
        "read_file",
        "write_file",
        "execute_command",
        "git_operation",
        "mcp_tool_call",
        "network_request",
    ):
        for target in ("", "x", "a b c", "'unbalanced", ".env", "main.tf"):
            assert classify_surface(action, None, target) in SURFACES
    assert classify_surface("made_up_action") == "general_policy"


def _pack_control_ids() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "compliance" and isinstance(value, dict):
                    found.update((fw, str(c)) for fw, ids in value.items() for c in ids)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for path in PACKS.glob("*.yaml"):
        walk(yaml.safe_load(path.read_text()))
    return found


def test_every_control_id_a_bundled_pack_maps_to_is_in_a_catalogue():
    referenced = _pack_control_ids()
    assert len(referenced) > 50  # the packs do map; an empty walk would pass vacuously
    catalogues = frameworks()
    missing = sorted(
        (fw, c) for fw, c in referenced if fw not in catalogues or catalogues[fw].control(c) is None
    )
    assert not missing, f"control ids used by bundled packs but missing from aispm/catalogues: {missing}"


def test_catalogues_cover_the_issue_frameworks_with_unique_titled_controls():
    catalogues = frameworks()
    for fw in (
        "soc2",
        "iso27001",
        "nist_ssdf",
        "nist_ai_rmf",
        "eu_ai_act",
        "pci_dss",
        "hipaa",
        "sox",
        "owasp_llm",
    ):
        assert fw in catalogues
    for fw in catalogues.values():
        ids = [c.id for c in fw.controls]
        assert len(ids) == len(set(ids)), fw.id
        assert all(c.title.strip() for c in fw.controls), fw.id


def test_v1_score_is_v1s_formula():
    s = posture_score({"block": 2, "require_approval": 1, "allow": 50}, {"high": 1})
    assert s.v1_score == 100 - 2 * 16 - 10 - 18 == 40
    assert posture_score({"block": 10}, {}).v1_score == 0  # clamped
    assert posture_score({}, {}).v1_score == 100


def test_headline_score_normalises_per_thousand_decisions_with_listed_components():
    # The worked example of docs/aispm.md.
    s = posture_score(
        {"allow": 9000, "audit_only": 500, "require_approval": 300, "block": 200}, {"high": 1, "medium": 1}
    )
    # weights: 200*16 + 300*10 + 500*2 = 7200 over 10,000 decisions = 720 per 1,000 -> 7.2 points
    assert s.decision_rate == pytest.approx(720)
    assert s.score == 66  # 100 - 7.2 - 18 - 9 = 65.8 -> 66
    assert sum(c.points for c in s.deductions) == pytest.approx(34.2)
    reasons = " ".join(c.reason for c in s.deductions)
    assert "200 of 10000 decision(s) blocked" in reasons and "1 open high finding(s) x 18" in reasons
    assert s.v1_score == 0  # raw weights saturate: the reason the headline normalises


def test_scale_does_not_change_the_headline_score():
    small = posture_score({"allow": 98, "block": 2}, {})
    big = posture_score({"allow": 98_000, "block": 2_000}, {})
    assert small.score == big.score == round(100 - 2 * 16 * 1000 / 100 / 100)
