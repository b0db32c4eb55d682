"""Semantic diff of two packs: rules added, removed and changed, tightened or loosened, tests that flip."""

from __future__ import annotations

from .compiled import CompiledPolicy, compile_pack
from .loader import Pack
from .testing import run_case
from .vocabulary import VERDICT_RANK as RANK

_RULE_FIELDS = (
    "actions",
    "effect",
    "severity",
    "reason",
    "approvers",
    "compliance",
    "match",
    "when",
    "tags",
    "pack",
)


def _direction(old: str, new: str) -> str:
    if RANK[new] > RANK[old]:
        return "tightened"
    if RANK[new] < RANK[old]:
        return "loosened"
    return "unchanged"


def _compiled(value: CompiledPolicy | Pack) -> CompiledPolicy:
    return value if isinstance(value, CompiledPolicy) else compile_pack(value)


def diff_packs(old: CompiledPolicy | Pack, new: CompiledPolicy | Pack) -> dict:
    """What changed between two packs (or two versions of one), in policy terms."""
    old_c, new_c = _compiled(old), _compiled(new)
    result: dict = {
        "old": {"id": old_c.pack_id, "version": old_c.version, "digest": old_c.digest},
        "new": {"id": new_c.pack_id, "version": new_c.version, "digest": new_c.digest},
        "identical": old_c.digest == new_c.digest,
        "metadata": {},
        "defaults": [],
        "rules_added": [],
        "rules_removed": [],
        "rules_changed": [],
        "tests_changed": [],
        "summary": {},
    }
    old_meta, new_meta = old_c.document["pack"], new_c.document["pack"]
    for key in sorted(set(old_meta) | set(new_meta)):
        if old_meta.get(key) != new_meta.get(key):
            result["metadata"][key] = {"old": old_meta.get(key), "new": new_meta.get(key)}
    if old_c.engine != new_c.engine:
        result["metadata"]["engine"] = {"old": old_c.engine, "new": new_c.engine}
    old_defaults, new_defaults = old_c.document.get("defaults") or {}, new_c.document.get("defaults") or {}
    for key in sorted(set(old_defaults) | set(new_defaults)):
        before, after = old_defaults.get(key), new_defaults.get(key)
        if before != after:
            entry = {"action": key, "old": before, "new": after}
            if before and after:
                entry["direction"] = _direction(before["effect"], after["effect"])
            result["defaults"].append(entry)
    if old_c.engine == "v1" or new_c.engine == "v1":
        if old_c.document.get("v1") != new_c.document.get("v1"):
            result["v1_sections"] = {"old": old_c.document.get("v1"), "new": new_c.document.get("v1")}
    old_rules = {rule["id"]: (i, rule) for i, rule in enumerate(old_c.rules)}
    new_rules = {rule["id"]: (i, rule) for i, rule in enumerate(new_c.rules)}
    for rule_id, (_, rule) in new_rules.items():
        if rule_id not in old_rules:
            result["rules_added"].append(
                {"id": rule_id, "effect": rule["effect"], "actions": rule["actions"]}
            )
    for rule_id, (_, rule) in old_rules.items():
        if rule_id not in new_rules:
            result["rules_removed"].append(
                {"id": rule_id, "effect": rule["effect"], "actions": rule["actions"]}
            )
    for rule_id, (old_index, before) in old_rules.items():
        if rule_id not in new_rules:
            continue
        new_index, after = new_rules[rule_id]
        fields = {}
        for key in _RULE_FIELDS:
            if before.get(key) != after.get(key):
                fields[key] = {"old": before.get(key), "new": after.get(key)}
        entry: dict = {"id": rule_id, "fields": fields}
        if "effect" in fields:
            entry["direction"] = _direction(before["effect"], after["effect"])
        order_old = [r for r in old_rules if r in new_rules]
        order_new = [r for r in new_rules if r in old_rules]
        if order_old.index(rule_id) != order_new.index(rule_id):
            entry["moved"] = {"old": old_index, "new": new_index}
        if fields or "moved" in entry:
            result["rules_changed"].append(entry)
    seen_cases: set[str] = set()
    for side, cases in (("old", old_c.tests), ("new", new_c.tests)):
        for case in cases:
            key = repr(
                sorted((k, repr(v)) for k, v in case.items() if k not in ("name", "index", "expect", "rule"))
            )
            if key in seen_cases:
                continue
            seen_cases.add(key)
            before, after = run_case(old_c, case), run_case(new_c, case)
            if (before.decision, before.rule_id) != (after.decision, after.rule_id):
                result["tests_changed"].append(
                    {
                        "from": side,
                        "name": case.get("name"),
                        "action": case["action"],
                        "target": case.get("target"),
                        "old": {"decision": before.decision, "rule_id": before.rule_id},
                        "new": {"decision": after.decision, "rule_id": after.rule_id},
                        "direction": _direction(before.decision, after.decision),
                    }
                )
    changed = result["rules_changed"]
    result["summary"] = {
        "added": len(result["rules_added"]),
        "removed": len(result["rules_removed"]),
        "changed": len(changed),
        "tightened": sum(1 for c in changed if c.get("direction") == "tightened")
        + sum(1 for d in result["defaults"] if d.get("direction") == "tightened"),
        "loosened": sum(1 for c in changed if c.get("direction") == "loosened")
        + sum(1 for d in result["defaults"] if d.get("direction") == "loosened"),
        "tests_changed": len(result["tests_changed"]),
    }
    return result
