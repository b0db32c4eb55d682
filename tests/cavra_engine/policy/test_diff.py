"""Semantic diff between two packs."""

from __future__ import annotations

from cavra_engine.policy import compile_pack, diff_packs, load_pack_text

OLD = """
apiVersion: cavra.policy/v2
metadata: {id: p, title: P, version: '1.0.0'}
defaults: {any: allow}
rules:
  - {id: keep, action: read_file, match: {paths: [a]}, effect: block}
  - {id: loosen, action: read_file, match: {paths: [b]}, effect: block, severity: critical}
  - {id: tighten, action: read_file, match: {paths: [c]}, effect: allow}
  - {id: gone, action: read_file, match: {paths: [d]}, effect: block}
tests:
  - {name: b is blocked, action: read_file, target: b, expect: block, rule: loosen}
  - {name: c is allowed, action: read_file, target: c, expect: allow}
  - {name: d is blocked, action: read_file, target: d, expect: block}
  - {name: a is blocked, action: read_file, target: a, expect: block}
"""

NEW = """
apiVersion: cavra.policy/v2
metadata: {id: p, title: P, version: '1.1.0'}
defaults: {any: allow, network_request: require_approval}
rules:
  - {id: keep, action: read_file, match: {paths: [a]}, effect: block}
  - {id: loosen, action: read_file, match: {paths: [b, bb]}, effect: require_approval, severity: critical}
  - {id: tighten, action: read_file, match: {paths: [c]}, effect: block}
  - {id: new, action: write_file, match: {paths: [e]}, effect: require_approval}
tests:
  - {name: e needs approval, action: write_file, target: e, expect: require_approval}
"""


def test_diff_reports_every_kind_of_change():
    result = diff_packs(load_pack_text(OLD), load_pack_text(NEW))
    assert not result["identical"]
    assert result["metadata"] == {"version": {"old": "1.0.0", "new": "1.1.0"}}
    assert [r["id"] for r in result["rules_added"]] == ["new"]
    assert [r["id"] for r in result["rules_removed"]] == ["gone"]
    changed = {c["id"]: c for c in result["rules_changed"]}
    assert set(changed) == {"loosen", "tighten"}
    assert changed["loosen"]["direction"] == "loosened"
    assert changed["loosen"]["fields"]["effect"] == {"old": "block", "new": "require_approval"}
    assert changed["loosen"]["fields"]["match"]["new"] == [{"paths": ["b", "bb"]}]
    assert "severity" not in changed["loosen"]["fields"]
    assert changed["tighten"]["direction"] == "tightened"
    [default] = result["defaults"]
    assert (default["action"], default["direction"]) == ("network_request", "tightened")
    flips = {(c["name"], c["old"]["decision"], c["new"]["decision"]) for c in result["tests_changed"]}
    assert flips == {
        ("b is blocked", "block", "require_approval"),
        ("c is allowed", "allow", "block"),
        ("d is blocked", "block", "allow"),
        ("e needs approval", "allow", "require_approval"),
    }
    assert result["summary"] == {
        "added": 1,
        "removed": 1,
        "changed": 2,
        "tightened": 2,
        "loosened": 1,
        "tests_changed": 4,
    }


def test_identical_packs():
    result = diff_packs(compile_pack(load_pack_text(OLD)), load_pack_text(OLD))
    assert result["identical"] and result["summary"]["changed"] == 0 and result["tests_changed"] == []


def test_reordering_is_reported():
    moved = OLD.replace(
        "  - {id: keep, action: read_file, match: {paths: [a]}, effect: block}\n", ""
    ).replace("rules:\n", "rules:\n  - {id: gone2, action: read_file, effect: allow, match: {paths: [z]}}\n")
    moved = moved.replace(
        "tests:", "  - {id: keep, action: read_file, match: {paths: [a]}, effect: block}\ntests:"
    )
    result = diff_packs(load_pack_text(OLD), load_pack_text(moved))
    assert any(c["id"] == "keep" and "moved" in c for c in result["rules_changed"])
