"""Action types, verdicts, severities and the approval binding are defined once, in cavra_engine."""

from __future__ import annotations

import ast
from pathlib import Path

from cavra_engine.policy import vocabulary
from cavra_engine.policy.vocabulary import ACTIONS, SEVERITIES, SEVERITY_RANK, VERDICT_RANK, VERDICTS
from tests.support.packages import ROOT_PACKAGES

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ROOT_PACKAGES
HOME = "cavra_engine/policy/vocabulary.py"


def _trees():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def _vocabulary_literal(node) -> list[str] | None:
    """A literal that spells out a vocabulary list, or a rank table (consecutive ints) over one."""
    if isinstance(node, ast.Tuple | ast.List):
        elts = node.elts
    elif isinstance(node, ast.Dict) and all(
        isinstance(v, ast.Constant) and type(v.value) is int for v in node.values
    ):
        ranks = sorted(v.value for v in node.values)
        elts = node.keys if ranks and ranks == list(range(ranks[0], ranks[0] + len(ranks))) else None
    else:
        elts = None
    if not elts or not all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in elts):
        return None
    values = [e.value for e in elts]
    return values if set(values) in (set(ACTIONS), set(SEVERITIES), set(VERDICTS)) else None


def test_no_module_spells_out_a_vocabulary_list_again():
    repeated = [
        f"{rel}:{node.lineno} {values}"
        for rel, tree in _trees()
        if rel != HOME
        for node in ast.walk(tree)
        if (values := _vocabulary_literal(node))
    ]
    assert repeated == []


def test_the_binding_digest_has_one_definition():
    definitions = [
        rel
        for rel, tree in _trees()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name == "action_digest"
    ]
    assert definitions == ["cavra_engine/policy/binding.py"]


def test_the_apps_use_the_engine_vocabulary():
    from approvals.models import SEVERITY_RANK as approval_rank
    from approvals.models import Severity
    from evidence.models import Decision
    from registry.profiles import ACTION_TYPES

    assert tuple(Severity.values) == SEVERITIES and approval_rank is SEVERITY_RANK
    assert set(Decision.Verdict.values) == set(VERDICTS) and ACTION_TYPES is ACTIONS


def test_orders():
    assert sorted(VERDICTS, key=VERDICT_RANK.__getitem__) == ["allow", "require_approval", "block"]
    assert [SEVERITY_RANK[s] for s in SEVERITIES] == [1, 2, 3, 4]
    assert vocabulary.most_restrictive("allow", "block") == "block"
    assert vocabulary.most_restrictive("require_approval", "allow") == "require_approval"
