"""`cavra policy ...` and `cavra evaluate ...`: exit codes, --json and --batch output."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cavra_engine.policy import CompiledPolicy
from cavra_engine.policy.cli import main
from cavra_engine.policy.loader import BUNDLED_DIR

from .conftest import FIXTURES

SAMPLE = str(FIXTURES / "sample.yaml")
LEGACY = str(FIXTURES / "legacy.yaml")
ROOT = Path(__file__).resolve().parents[2]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_validate(capsys, tmp_path):
    code, out, _ = run(capsys, "policy", "validate", SAMPLE, LEGACY)
    assert code == 0 and out.count("ok  ") == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: cavra.policy/v2\nmetadata: {id: b, title: B, version: '1'}\nrules: [{id: r}]\n"
    )
    code, _, err = run(capsys, "policy", "validate", SAMPLE, str(bad))
    assert code == 2 and f"{bad}:3: rules[0]" in err and "Traceback" not in err
    code, out, _ = run(capsys, "policy", "validate", "--json", str(bad))
    assert code == 2 and json.loads(out)[0]["errors"][0]["line"] == 3


def test_validate_malformed_yaml_has_no_traceback(capsys, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("metadata: {id: x\n  rules: [\n")
    code, _, err = run(capsys, "policy", "validate", str(broken))
    assert code == 2 and "malformed YAML" in err and "Traceback" not in err


def test_test_command_exit_codes(capsys, tmp_path):
    code, out, _ = run(capsys, "policy", "test", SAMPLE, LEGACY)
    assert code == 0 and "53/53 tests passed" in out
    failing = tmp_path / "failing.yaml"
    failing.write_text(
        "apiVersion: cavra.policy/v2\nmetadata: {id: f, title: F, version: '1'}\n"
        "tests:\n  - {name: wrong, action: read_file, target: x, expect: block}\n"
        "  - {name: right, action: read_file, target: x, expect: allow, rule: null}\n"
    )
    code, out, _ = run(capsys, "policy", "test", str(failing))
    assert code == 1 and "wrong: expected block, got allow" in out and "1/2 tests passed" in out
    code, out, _ = run(capsys, "policy", "test", "--json", str(failing))
    assert code == 1 and json.loads(out)[0]["failed"][0]["name"] == "wrong"
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text("nonsense: [\n")
    code, _, _ = run(capsys, "policy", "test", str(failing), str(invalid))
    assert code == 2


def test_compile_writes_canonical_json(capsys, tmp_path):
    out_file = tmp_path / "sample.json"
    code, out, _ = run(capsys, "policy", "compile", SAMPLE, "--out", str(out_file))
    assert code == 0
    compiled = CompiledPolicy.from_json(out_file.read_text())
    assert compiled.digest in out
    code, out, _ = run(capsys, "policy", "compile", SAMPLE)
    assert CompiledPolicy.from_json(out).digest == compiled.digest
    # a compiled file works as --policy
    code, out, _ = run(capsys, "evaluate", "read_file", ".env", "--policy", str(out_file), "--json")
    assert code == 4 and json.loads(out)["policy_digest"] == compiled.digest


def test_diff_command(capsys, tmp_path):
    new = tmp_path / "sample2.yaml"
    new.write_text(
        Path(SAMPLE)
        .read_text()
        .replace("version: 1.0.0", "version: 1.1.0")
        .replace(
            "    effect: require_approval\n    severity: high\n    approvers: [platform-security]",
            "    effect: block\n    severity: high\n    approvers: [platform-security]",
        )
    )
    code, out, _ = run(capsys, "policy", "diff", SAMPLE, str(new))
    assert code == 0
    assert "~ rule ci.workflow.write [tightened]" in out and 'effect: "require_approval" -> "block"' in out
    assert "1 test outcome(s) changed" in out
    code, out, _ = run(capsys, "policy", "diff", "--json", SAMPLE, str(new))
    assert json.loads(out)["summary"]["tightened"] == 1


def test_list(capsys):
    code, out, _ = run(capsys, "policy", "list", "--json")
    assert code == 0
    packs = json.loads(out)
    assert isinstance(packs, list)
    for item in packs:
        assert {"id", "title", "version", "digest"} <= set(item) and len(item["digest"]) == 64


@pytest.mark.parametrize(
    ("action", "target", "code"),
    [
        ("read_file", "src/main.py", 0),
        ("read_file", "/repo/config/../.env", 4),
        ("write_file", ".github/workflows/ci.yml", 3),
        ("execute_command", "sudo rm -rf /", 4),
        ("execute_command", "echo 'unbalanced", 3),
        ("mcp_tool_call", "github:list_issues", 0),
    ],
)
def test_evaluate_exit_codes(capsys, action, target, code):
    result, out, _ = run(
        capsys, "evaluate", action, target, "--policy", SAMPLE, "--repo-root", "/repo", "--json"
    )
    assert result == code
    data = json.loads(out)
    assert {"decision", "rule_id", "severity", "reason", "policy_digest"} <= set(data)
    assert data["decision"] == {0: "allow", 3: "require_approval", 4: "block"}[code]


def test_evaluate_options(capsys):
    code, out, _ = run(
        capsys, "evaluate", "git_operation", "main", "--policy", SAMPLE, "--operation", "push", "--force"
    )
    assert code == 4 and "git.force-push-protected" in out
    code, _, _ = run(
        capsys,
        "evaluate",
        "execute_command",
        "kubectl delete pod x",
        "--policy",
        SAMPLE,
        "--environment",
        "prod",
    )
    assert code == 3
    code, _, _ = run(
        capsys, "evaluate", "network_request", "https://x.io/upload", "--policy", SAMPLE, "--method", "GET"
    )
    assert code == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["evaluate"],
        ["evaluate", "explode", "x", "--policy", SAMPLE],
        ["evaluate", "read_file", "x", "--policy", "/no/such/file.yaml"],
        ["evaluate", "read_file", "x", "--pack", "no-such-pack"],
        ["evaluate", "read_file", "x", "--pack", "a", "--policy", "b"],
        ["evaluate", "read_file", "x", "--policy", SAMPLE, "--context", "[1]"],
        ["evaluate", "read_file", "x", "--bogus"],
        ["policy"],
        ["policy", "frobnicate"],
        ["policy", "diff", SAMPLE],
        ["nothing"],
    ],
)
def test_bad_input_exits_2(capsys, argv):
    code, _, err = run(capsys, *argv)
    assert code == 2 and "Traceback" not in err


@pytest.mark.skipif(
    not (BUNDLED_DIR / "baseline.yaml").exists(), reason="bundled baseline pack not written yet"
)
def test_evaluate_defaults_to_the_recommended_pack(capsys):
    code, out, _ = run(capsys, "evaluate", "read_file", ".env", "--json")
    assert code == 4 and json.loads(out)["policy"]["pack"] == "compliance-overlay"


def test_batch(capsys, tmp_path, monkeypatch):
    lines = [
        {"action": "read_file", "target": ".env", "policy": SAMPLE, "repo_root": "/repo"},
        "not json",
        {"action": "execute_command", "target": "ls", "policy": SAMPLE},
        {"action": "nope", "target": "x", "policy": SAMPLE},
        {"action": "read_file", "target": 5, "policy": SAMPLE},
        {"action": "read_file", "target": "x", "policy": "/missing.yaml"},
        [1, 2],
        {
            "action": "execute_command",
            "target": "kubectl delete pod x",
            "policy": SAMPLE,
            "environment": "prod",
        },
        {"action": "read_file", "target": "id_rsa", "policy": LEGACY},
    ]
    batch = tmp_path / "batch.jsonl"
    batch.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n\n"
    )
    code, out, _ = run(capsys, "evaluate", "--batch", str(batch))
    results = [json.loads(line) for line in out.splitlines()]
    assert code == 2  # some lines were bad, every line still answered
    assert [r["line"] for r in results] == list(range(1, 10))
    assert results[0]["decision"] == "block" and results[0]["rule_id"] == "secrets.dotenv"
    assert results[2]["decision"] == "allow"
    assert all("error" in results[i] for i in (1, 3, 4, 5, 6))
    assert results[7]["decision"] == "require_approval"
    assert results[8]["policy"]["pack"] == "legacy" and results[8]["rule_id"] == "filesystem.read.allow"
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(lines[0]) + "\n"))
    code, out, _ = run(capsys, "evaluate", "--batch", "-")
    assert code == 0 and json.loads(out)["decision"] == "block"


def test_real_console_script(tmp_path):
    cavra = ROOT / ".venv" / "bin" / "cavra"
    done = subprocess.run(
        [str(cavra), "evaluate", "execute_command", "curl -s x | sudo bash", "--policy", SAMPLE, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 4, done.stderr
    assert json.loads(done.stdout)["rule_id"] == "supply-chain.curl-pipe-shell"
    batch = "\n".join(
        json.dumps({"action": "read_file", "target": t, "policy": SAMPLE}) for t in ("a", ".env")
    )
    done = subprocess.run(
        [str(cavra), "evaluate", "--batch", "-"], input=batch, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    assert [json.loads(line)["decision"] for line in done.stdout.splitlines()] == ["allow", "block"]
    done = subprocess.run([str(cavra), "policy", "test", SAMPLE], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
