"""Running a pack's embedded test cases against its compiled form."""

from __future__ import annotations

from dataclasses import dataclass

from .compiled import CompiledPolicy, compile_pack, evaluate
from .evaluator import DEFAULT_TEST_ROOT, ActionRequest, Verdict
from .loader import Pack

_REQUEST_FIELDS = (
    "repository",
    "environment",
    "agent_profile",
    "repo_root",
    "git",
    "mcp",
    "network",
    "context",
)


@dataclass
class TestResult:
    __test__ = False  # not a pytest class

    index: int
    name: str
    passed: bool
    expected_decision: str
    expected_rule: str | None
    checks_rule: bool
    actual: Verdict

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "name": self.name,
            "passed": self.passed,
            "expected": {
                "decision": self.expected_decision,
                **({"rule_id": self.expected_rule} if self.checks_rule else {}),
            },
            "actual": {"decision": self.actual.decision, "rule_id": self.actual.rule_id},
            "reason": self.actual.reason,
        }


def request_from_case(case: dict) -> ActionRequest:
    fields = {key: case.get(key) for key in _REQUEST_FIELDS}
    if fields["repo_root"] is None:
        fields["repo_root"] = DEFAULT_TEST_ROOT
    return ActionRequest(action=case["action"], target=str(case.get("target", "")), **fields)


def run_case(compiled: CompiledPolicy, case: dict) -> Verdict:
    return evaluate(compiled, request_from_case(case))


def run_pack_tests(compiled_or_pack: CompiledPolicy | Pack) -> list[TestResult]:
    compiled = (
        compiled_or_pack if isinstance(compiled_or_pack, CompiledPolicy) else compile_pack(compiled_or_pack)
    )
    results: list[TestResult] = []
    for position, case in enumerate(compiled.tests):
        verdict = run_case(compiled, case)
        checks_rule = "rule" in case
        passed = verdict.decision == case["expect"] and (not checks_rule or verdict.rule_id == case["rule"])
        results.append(
            TestResult(
                index=case.get("index", position),
                name=case.get("name") or f"tests[{position}]",
                passed=passed,
                expected_decision=case["expect"],
                expected_rule=case.get("rule"),
                checks_rule=checks_rule,
                actual=verdict,
            )
        )
    return results
