"""Evaluator: combining, defaults, when, verdict fields, and failing closed on odd input."""

from __future__ import annotations

import pytest

from cavra_engine.policy import (
    ActionRequest,
    CompiledPolicy,
    compile_pack,
    evaluate,
    load_pack_text,
    run_pack_tests,
)

from .conftest import decide

COMBINE = """
apiVersion: cavra.policy/v2
metadata: {id: combine, title: Combine, version: '1'}
defaults:
  any: allow
  write_file: {effect: require_approval, reason: writes need review, approvers: [owners]}
rules:
  - {id: allow-docs, action: read_file, match: {paths: ['docs/**']}, effect: allow}
  - {id: approve-docs, action: read_file, match: {paths: ['docs/**']}, effect: require_approval}
  - {id: block-secret, action: read_file, match: {paths: ['docs/secret.md']}, effect: block}
  - {id: block-secret-again, action: read_file, match: {paths: ['*.md']}, effect: block, severity: critical}
  - id: prod-only
    action: execute_command
    when: {environment: [prod], repository: ['acme/*'], context: {ticket: ['<unset>']}}
    effect: block
  - id: agent-profile
    action: mcp_tool_call
    when: {agent_profile: [untrusted]}
    effect: block
  - {id: lenient, action: any, match: {commands: {program: make}, paths: [Makefile], git: {operation: tag},
     mcp: {tool: ping}, network: {host: localhost}}, effect: allow}
"""


@pytest.fixture(scope="module")
def combine():
    return compile_pack(load_pack_text(COMBINE))


def test_most_restrictive_wins_and_ties_go_to_pack_order(combine):
    assert decide(combine, "read_file", "docs/readme.txt").rule_id == "approve-docs"
    verdict = decide(combine, "read_file", "docs/secret.md")
    assert (verdict.decision, verdict.rule_id, verdict.severity) == ("block", "block-secret", "high")
    assert decide(combine, "read_file", "docs/other.md").rule_id == "block-secret-again"


def test_defaults_per_action(combine):
    verdict = decide(combine, "write_file", "src/x.py")
    assert (verdict.decision, verdict.rule_id, verdict.reason, verdict.approvers) == (
        "require_approval",
        None,
        "writes need review",
        ["owners"],
    )
    assert decide(combine, "read_file", "src/x.py").decision == "allow"


def test_when_conditions(combine):
    assert (
        decide(combine, "execute_command", "ls", environment="prod", repository="acme/web").decision
        == "block"
    )
    assert (
        decide(combine, "execute_command", "ls", environment="PROD", repository="acme/web").decision
        == "block"
    )
    assert (
        decide(combine, "execute_command", "ls", environment="dev", repository="acme/web").decision == "allow"
    )
    assert (
        decide(combine, "execute_command", "ls", environment="prod").decision == "allow"
    )  # repository unset
    assert (
        decide(
            combine,
            "execute_command",
            "ls",
            environment="prod",
            repository="acme/web",
            context={"ticket": "T-1"},
        ).decision
        == "allow"
    )
    assert decide(combine, "mcp_tool_call", "a:b", agent_profile="untrusted").decision == "block"


def test_any_action_rule_uses_the_matcher_of_each_action(combine):
    assert decide(combine, "execute_command", "make build").rule_id == "lenient"
    assert decide(combine, "read_file", "sub/Makefile").rule_id == "lenient"
    assert decide(combine, "git_operation", "tag v1").rule_id == "lenient"
    assert decide(combine, "mcp_tool_call", "x:ping").rule_id == "lenient"
    assert decide(combine, "network_request", "http://LOCALHOST:8080/").rule_id == "lenient"


def test_verdict_fields_and_to_dict(sample):
    verdict = decide(sample, "execute_command", "cd /tmp && sudo rm -rf /")
    data = verdict.to_dict()
    assert data["decision"] == "block" and data["rule_id"] == "destructive.rm-root"
    assert data["severity"] == "critical"
    assert data["matched_segment"] == "rm -rf /"
    assert data["normalised_target"] == "cd /tmp ; rm -rf /"
    assert data["policy_digest"] == sample.digest
    verdict = decide(sample, "read_file", ".env")
    assert verdict.compliance == {"iso27001": ["A.8.12"], "soc2": ["CC6.1"]}
    assert decide(sample, "write_file", ".github/workflows/x.yml").approvers == ["platform-security"]


def test_fixture_embedded_tests_pass(sample, legacy):
    for compiled in (sample, legacy):
        results = run_pack_tests(compiled)
        assert results and all(r.passed for r in results), [r.to_dict() for r in results if not r.passed]


@pytest.mark.parametrize(
    "request_",
    [
        ActionRequest("delete_universe", "x"),
        ActionRequest("read_file", None),
        ActionRequest("read_file", 42),
        ActionRequest("execute_command", "x" * 70000),
        ActionRequest("execute_command", "\x00\x01 rm -rf /"),
        ActionRequest("git_operation", "push", git={"operation": 5, "force": "yes", "branch": ["x"]}),
        ActionRequest("mcp_tool_call", "", mcp={"server": None, "capability": {"a": 1}, "arguments": "x"}),
        ActionRequest("network_request", "http://[::1/x", network={"method": 7}),
        ActionRequest("network_request", "http://host:99999999/"),
        ActionRequest("read_file", "../../../../etc/passwd", context="not a dict"),
        ActionRequest("execute_command", "$(" * 50 + "rm -rf /" + ")" * 50),
        ActionRequest("execute_command", "bash -c " * 30 + "'rm -rf /'"),
    ],
)
def test_odd_input_never_raises(sample, request_):
    verdict = evaluate(sample, request_)
    assert verdict.decision in ("allow", "block", "require_approval")


def test_unknown_action_and_long_targets_block(sample):
    assert evaluate(sample, ActionRequest("delete_universe", "x")).rule_id == "engine.invalid_request"
    assert evaluate(sample, ActionRequest("execute_command", "x" * 70000)).decision == "block"


def test_deeply_nested_command_is_not_allowed(sample):
    verdict = evaluate(sample, ActionRequest("execute_command", "$(" * 50 + "ls" + ")" * 50))
    assert verdict.decision != "allow"


def test_internal_error_fails_closed():
    broken = CompiledPolicy(
        {
            "format": "cavra.compiled/v1",
            "engine": "v2",
            "pack": {"id": "x", "version": "1", "title": "x"},
            "rules": [{"id": "half-a-rule"}],
            "defaults": {},
        },
        "0" * 64,
    )
    verdict = evaluate(broken, ActionRequest("read_file", "x"))
    assert (verdict.decision, verdict.rule_id) == ("block", "engine.internal_error")
    assert evaluate(broken, "not a request").decision == "block"


def test_mcp_capabilities_are_inferred_and_unioned(sample):
    assert decide(sample, "mcp_tool_call", "GitHub:ListIssues").rule_id == "mcp.trusted-read"
    assert (
        decide(sample, "mcp_tool_call", "github:run", mcp={"capability": "destructive"}).decision == "block"
    )
    assert (
        decide(sample, "mcp_tool_call", "x", mcp={"server": "github", "tool": "dropTable"}).decision
        == "block"
    )
    assert decide(sample, "mcp_tool_call", "github/search_code").decision == "allow"


def test_network_matching(sample):
    assert decide(sample, "network_request", "pastebin.com/raw/x").decision == "block"
    assert decide(sample, "network_request", "https://user:pw@a.b.PASTEBIN.com:443/x").decision == "block"
    assert decide(sample, "network_request", "https://notpastebin.com/x").decision == "allow"
    # an unknown method is matched pessimistically by a block rule
    assert decide(sample, "network_request", "https://example.com/upload").decision == "block"


def test_git_operation_request_fields(sample):
    assert (
        decide(sample, "git_operation", "main", git={"operation": "push", "force": True}).decision == "block"
    )
    assert decide(sample, "git_operation", "push origin main", git={"force": True}).decision == "block"
    assert decide(sample, "git_operation", "push", git={"branch": "main"}).rule_id == "git.push-protected"
    assert (
        decide(sample, "git_operation", "push origin HEAD", context={"branch": "feature/x"}).decision
        == "allow"
    )
    # target branch unknown: matched pessimistically
    assert decide(sample, "git_operation", "push origin HEAD").decision == "require_approval"
    assert decide(sample, "git_operation", "git push").decision == "require_approval"
    assert decide(sample, "git_operation", "branch -D old").rule_id == "git.branch-delete"
    assert decide(sample, "git_operation", "push origin :refs/tags/v1").rule_id == "git.branch-delete"


def test_pull_and_merge_requests_are_not_network_tools():
    from cavra_engine.policy.normalise import tool_capabilities

    assert "network" not in tool_capabilities("create_pull_request")
    assert "network" not in tool_capabilities("mergeRequestCreate")
    assert "network" in tool_capabilities("http_request")


def test_local_tag_delete_does_not_match_a_remote_rule():
    from cavra_engine.policy import ActionRequest, compile_pack, evaluate, load_pack_text

    pack = load_pack_text(
        """
apiVersion: cavra.policy/v2
metadata: {id: remote-tags, title: Remote tags, version: 1.0.0, description: x}
defaults: {any: allow}
rules:
  - id: tags.remote-delete
    action: [execute_command, git_operation]
    match:
      git: {operation: tag_delete, remote: "*"}
    effect: block
    reason: Deleting a published tag.
"""
    )
    compiled = compile_pack(pack)
    assert (
        evaluate(compiled, ActionRequest(action="execute_command", target="git tag -d v1")).decision
        == "allow"
    )
    pushed = evaluate(
        compiled, ActionRequest(action="execute_command", target="git push origin :refs/tags/v1")
    )
    assert pushed.decision == "block"
