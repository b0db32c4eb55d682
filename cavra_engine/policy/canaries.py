"""Safety canaries: actions that must never become `allow` silently, and the risk class of a pack change."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from .compiled import CompiledPolicy, compile_pack
from .diff import diff_packs
from .errors import PolicyError
from .loader import Pack
from .testing import run_case
from .vocabulary import ACTIONS
from .vocabulary import VERDICT_RANK as RANK

CANARIES_FILE = Path(__file__).with_name("canaries.yaml")
_CASE_FIELDS = ("repository", "environment", "agent_profile", "repo_root", "git", "mcp", "network", "context")

TIGHTENING, NEUTRAL, LOOSENING = "tightening", "neutral", "loosening"


@dataclass(frozen=True)
class Canary:
    id: str
    title: str
    case: dict

    def to_dict(self) -> dict:
        return {"id": self.id, "title": self.title, **self.case}


def _field_error(where: str, path: str, message: str) -> PolicyError:
    return PolicyError([{"file": where, "line": None, "path": path, "message": message}], file=where)


def canary_from_mapping(item: dict, *, where: str = "canary") -> Canary:
    """One canary from a mapping shaped like a pack test case plus `id` and `title`; PolicyError names the field."""
    if not isinstance(item, dict):
        raise PolicyError("each canary must be a mapping", file=where)
    canary_id, title = item.get("id"), item.get("title")
    if not isinstance(canary_id, str) or not canary_id.strip():
        raise _field_error(where, "id", "id is required (a short name)")
    if item.get("action") not in ACTIONS:
        raise _field_error(where, "action", f"action must be one of {', '.join(ACTIONS)}")
    if not isinstance(item.get("target"), str) or not item["target"].strip():
        raise _field_error(where, "target", "target is required")
    case = {"action": item["action"], "target": item["target"]}
    for key in _CASE_FIELDS:
        if item.get(key) is not None:
            case[key] = item[key]
    return Canary(id=canary_id.strip(), title=str(title or canary_id), case=case)


def load_canaries(items: list | None = None) -> list[Canary]:
    """The given canary mappings, or the shipped default list."""
    if items is None:
        items = yaml.safe_load(CANARIES_FILE.read_text(encoding="utf-8")) or []
    if not isinstance(items, list):
        raise PolicyError("canaries must be a list", file="canaries")
    canaries = [canary_from_mapping(item, where=f"canaries[{i}]") for i, item in enumerate(items)]
    ids = [c.id for c in canaries]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise PolicyError(f"duplicate canary id(s): {', '.join(duplicates)}", file="canaries")
    return canaries


def _compiled(value: CompiledPolicy | Pack) -> CompiledPolicy:
    return value if isinstance(value, CompiledPolicy) else compile_pack(value)


def check_canaries(policy: CompiledPolicy | Pack | None, canaries: list[Canary] | None = None) -> list[dict]:
    """Each canary's verdict under a policy; `safe` is False when it is allowed. No policy: every action blocks."""
    canaries = load_canaries() if canaries is None else canaries
    compiled = _compiled(policy) if policy is not None else None
    results = []
    for canary in canaries:
        if compiled is None:
            decision, rule_id = "block", "portal.no_policy"
        else:
            verdict = run_case(compiled, canary.case)
            decision, rule_id = verdict.decision, verdict.rule_id
        results.append(
            {
                "id": canary.id,
                "title": canary.title,
                "decision": decision,
                "rule_id": rule_id,
                "safe": decision != "allow",
            }
        )
    return results


def is_add_on(policy: CompiledPolicy | Pack) -> bool:
    """A pack that declares itself a narrow add-on (`metadata.labels.scope: add-on`) need not pass the canaries alone."""
    return bool(_compiled(policy).document["pack"].get("add_on"))


def canary_transitions(before: list[dict], after: list[dict]) -> list[dict]:
    """Canary by canary: the verdict before and after, and whether the change turned it into allow."""
    old = {item["id"]: item for item in before}
    rows = []
    for item in after:
        prev = old.get(item["id"])
        prev_decision = prev["decision"] if prev else None
        rows.append(
            {
                "id": item["id"],
                "title": item["title"],
                "before": {"decision": prev_decision, "rule_id": prev["rule_id"] if prev else None},
                "after": {"decision": item["decision"], "rule_id": item["rule_id"]},
                "turns_allow": item["decision"] == "allow" and prev_decision not in (None, "allow"),
                "direction": (
                    "unchanged"
                    if prev_decision in (None, item["decision"])
                    else ("tightened" if RANK[item["decision"]] > RANK[prev_decision] else "loosened")
                ),
            }
        )
    return rows


def _widened_matches(diff: dict) -> list[str]:
    """Rules whose match or when changed in a way that can match more (a rule that lets through widens)."""
    widened = []
    for change in diff["rules_changed"]:
        fields = change["fields"]
        for key in ("match", "when", "actions"):
            if key in fields:
                widened.append(f"rule {change['id']} changed its {key}")
    return widened


def classify_risk(
    *,
    old: CompiledPolicy | Pack | None,
    new: CompiledPolicy | Pack | None,
    canaries: list[Canary] | None = None,
    diff: dict | None = None,
) -> dict:
    """Risk class of replacing `old` with `new`: loosening if anything may now let through what was held back.

    Loosening: a canary turns allow; a rule, a default or a test outcome loosened; a rule or a test
    removed; a block/require_approval rule's match, `when` or actions changed (it may now match less).
    Tightening: only stricter effects or added rules. Neutral: nothing that changes a verdict.
    Comparing against no policy at all (nothing rolled out) every allow is a loosening of `block`.
    """
    canaries = load_canaries() if canaries is None else canaries
    before = check_canaries(old, canaries)
    after = check_canaries(new, canaries)
    transitions = canary_transitions(before, after)
    reasons: list[str] = []
    tight: list[str] = []
    for row in transitions:
        if row["turns_allow"]:
            reasons.append(f"canary {row['id']} ({row['title']}) turns allow")
    if old is not None and new is not None:
        diff = diff if diff is not None else diff_packs(_compiled(old), _compiled(new))
        for rule in diff["rules_removed"]:
            if rule["effect"] != "allow":
                reasons.append(f"rule {rule['id']} ({rule['effect']}) removed")
            else:
                tight.append(f"allow rule {rule['id']} removed")
        old_defaults = _compiled(old).document.get("defaults") or {}
        for rule in diff["rules_added"]:
            if rule["effect"] != "allow":
                tight.append(f"rule {rule['id']} ({rule['effect']}) added")
            elif any((old_defaults.get(a) or {}).get("effect", "allow") != "allow" for a in rule["actions"]):
                # An allow rule only lets more through where the old default held the action back.
                reasons.append(f"allow rule {rule['id']} added")
        for change in diff["rules_changed"]:
            if change.get("direction") == "loosened":
                reasons.append(f"rule {change['id']} loosened its effect")
            elif change.get("direction") == "tightened":
                tight.append(f"rule {change['id']} tightened its effect")
        for text in _widened_matches(diff):
            reasons.append(text)
        for default in diff["defaults"]:
            if default.get("direction") == "loosened" or default.get("new") is None and default.get("old"):
                reasons.append(f"default for {default['action']} loosened")
            elif default.get("direction") == "tightened":
                tight.append(f"default for {default['action']} tightened")
        for case in diff["tests_changed"]:
            if case["direction"] == "loosened":
                reasons.append(f"test {case['name']!r} now answers {case['new']['decision']}")
            elif case["direction"] == "tightened":
                tight.append(f"test {case['name']!r} now answers {case['new']['decision']}")
        if _compiled(old).pack_id == _compiled(new).pack_id:  # another pack brings its own tests
            old_names = {c.get("name") for c in _compiled(old).tests}
            new_names = {c.get("name") for c in _compiled(new).tests}
            for name in sorted(n for n in old_names - new_names if n):
                reasons.append(f"test {name!r} removed")
        if is_add_on(new) and not is_add_on(old):
            reasons.append(f"{_compiled(new).pack_id} is a narrow add-on pack replacing a full pack")
    elif new is None and old is not None:
        tight.append("nothing is rolled out any more: every action blocks")
    elif old is None and new is not None:
        reasons.extend(f"canary {r['id']} ({r['title']}) allowed" for r in after if not r["safe"])
    for row in transitions:
        if row["direction"] == "tightened":
            tight.append(f"canary {row['id']} now {row['after']['decision']}")
    if reasons:
        risk = LOOSENING
    elif tight:
        risk = TIGHTENING
    else:
        risk = NEUTRAL
    return {
        "risk": risk,
        "reasons": reasons,
        "tightening": tight,
        "canaries": transitions,
        "canaries_turning_allow": [row["id"] for row in transitions if row["turns_allow"]],
    }
