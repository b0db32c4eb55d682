"""CAVRA v1 packs load and decide with v1's own semantics and rule ids."""

from __future__ import annotations

import pytest

from cavra_engine.policy import compile_pack, load_pack_text, run_pack_tests

from .conftest import decide


def v1(text: str):
    return compile_pack(load_pack_text(text, source_name="v1.yaml"))


def test_fixture_is_read_as_v1(legacy):
    assert legacy.engine == "v1" and legacy.pack_id == "legacy" and legacy.version == "1.4"
    assert all(result.passed for result in run_pack_tests(legacy))


def test_inherits_concatenates_parent_lists_first(legacy):
    sections = legacy.document["v1"]
    assert sections["filesystem"]["block_read"][0] == "*.pem"
    assert sections["commands"]["block"][0] == "rm -rf /*"
    assert sections["mcp"]["allowed_servers"] == ["github", "jira"]


def test_star_crosses_slash_and_other_glob_characters_are_literal():
    pack = v1("filesystem: {block_read: ['secrets/*', 'file?.txt', '[ab].txt']}\n")
    assert decide(pack, "read_file", "secrets/a/b/c").rule_id == "filesystem.read.block"
    assert decide(pack, "read_file", "file?.txt").decision == "block"
    assert decide(pack, "read_file", "file1.txt").decision == "allow"
    assert decide(pack, "read_file", "[ab].txt").decision == "block"
    assert decide(pack, "read_file", "a.txt").rule_id == "filesystem.read.allow"


def test_v1_matches_whole_strings_without_v2_normalisation():
    pack = v1("filesystem: {block_read: ['.env']}\ncommands: {block: ['rm -rf *']}\n")
    assert decide(pack, "read_file", ".env").decision == "block"
    # v1 semantics: the literal target only
    assert decide(pack, "read_file", "./.env").decision == "allow"
    assert decide(pack, "execute_command", "  rm -rf /  ").rule_id == "commands.block"
    assert decide(pack, "execute_command", "sudo rm -rf /").rule_id == "commands.default.require_approval"


def test_command_order_and_severity():
    pack = v1(
        "commands: {block: ['kubectl delete*', 'terraform apply*', 'curl *'], allow: ['curl *', 'ls*']}\n"
    )
    verdict = decide(pack, "execute_command", "kubectl delete ns prod")
    assert (verdict.decision, verdict.severity) == ("block", "critical")
    assert decide(pack, "execute_command", "curl x").severity == "high"  # block comes before allow
    verdict = decide(pack, "execute_command", "make")
    assert (verdict.rule_id, verdict.severity, verdict.approvers) == (
        "commands.default.require_approval",
        "medium",
        ["Repository Owners"],
    )


def test_write_rules():
    pack = v1("filesystem: {block_write: ['*.lock'], require_approval_write: ['*.lock', 'infra/*']}\n")
    assert decide(pack, "write_file", "a.lock").rule_id == "filesystem.write.block"
    verdict = decide(pack, "write_file", "infra/x.tf")
    assert (verdict.rule_id, verdict.approvers) == (
        "filesystem.write.require_approval",
        ["Platform Security"],
    )
    assert decide(pack, "read_file", "infra/x.tf").decision == "allow"


@pytest.mark.parametrize(
    ("target", "git", "decision"),
    [
        ("main", {"operation": "push"}, "block"),
        ("release-master", {"operation": "push"}, "block"),
        ("push origin main", None, "block"),
        ("maintenance", {"operation": "push"}, "allow"),
        ("main", {"operation": "merge"}, "allow"),
    ],
)
def test_git_protected_branch(target, git, decision):
    pack = v1("git: {}\n")
    verdict = decide(pack, "git_operation", target, git=git)
    assert verdict.decision == decision
    assert verdict.rule_id == (
        "git.protected_branch.block_direct_push" if decision == "block" else "git.allow"
    )


def test_mcp_trust():
    strict = v1("mcp: {allowed_servers: [github], blocked_servers: [github-evil]}\n")
    assert decide(strict, "mcp_tool_call", "github:create_issue").rule_id == "mcp.server.trust.allow"
    assert decide(strict, "mcp_tool_call", "other:x").rule_id == "mcp.server.trust.block_unknown"
    assert decide(strict, "mcp_tool_call", "github-evil:x").decision == "block"
    lenient = v1("mcp: {block_unknown_servers: false, blocked_servers: [bad]}\n")
    assert decide(lenient, "mcp_tool_call", "other:x").decision == "allow"
    assert decide(lenient, "mcp_tool_call", "bad:x").rule_id == "mcp.server.trust.block_unknown"
    default = v1("commands: {allow: [ls]}\n")
    assert (
        decide(default, "mcp_tool_call", "any:x").decision == "block"
    )  # block_unknown_servers defaults to true


def test_network_is_allowed_and_apiversion_v1_is_accepted():
    pack = v1("apiVersion: cavra.policy/v1\nmetadata: {name: My Pack}\ncommands: {allow: [ls]}\n")
    assert pack.pack_id == "my-pack"
    assert decide(pack, "network_request", "https://x").rule_id == "network.allow"


def test_v1_tests_are_validated():
    from cavra_engine.policy import PolicyError

    with pytest.raises(PolicyError) as info:
        load_pack_text(
            "commands: {allow: [ls]}\ntests:\n  - {action: read_file, expect: block}\n", source_name="v1.yaml"
        )
    assert (
        info.value.errors[0]["path"] == "tests[0]"
        and "'target' is a required key" in info.value.errors[0]["message"]
    )
