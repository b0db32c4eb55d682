"""The shape the import contracts hold, checked from the test suite too (make lint runs lint-imports)."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

from tests.support.packages import ROOT_PACKAGES

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ROOT_PACKAGES
LAYERS = ("core", "tenants", "evidence", "registry", "approvals", "policies", "aispm")


def _edges() -> dict[str, set[str]]:
    graph = grimp.build_graph(*PACKAGES, include_external_packages=False, cache_dir=None)
    edges: dict[str, set[str]] = {p: set() for p in PACKAGES}
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            a, b = module.split(".")[0], imported.split(".")[0]
            if a != b:
                edges[a].add(b)
    return edges


def test_no_two_packages_import_each_other_and_layers_point_down():
    edges = _edges()
    for a, targets in edges.items():
        for b in targets:
            assert a not in edges[b], f"{a} <-> {b}"
            if a in LAYERS and b in LAYERS:
                assert LAYERS.index(b) < LAYERS.index(a), f"{a} (lower) imports {b} (higher)"
    assert edges["core"] <= {"cavra_engine"}
    assert edges["cavra_engine"] == set()
    assert not any("cavra_portal" in edges[p] for p in LAYERS)


def test_no_project_import_is_wrapped_in_a_try_except_import_error():
    offenders = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ExceptHandler) and node.type is not None:
                    names = {n.id for n in ast.walk(node.type) if isinstance(n, ast.Name)}
                    if names & {"ImportError", "ModuleNotFoundError"}:
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_no_circle_between_modules_of_one_app():
    # e.g. approvals.outbox -> approvals.tasks -> approvals.outbox, which the outbox's move to core undid.
    graph = grimp.build_graph(*LAYERS, include_external_packages=False, cache_dir=None)
    circles = []
    for package in LAYERS:
        children = sorted(m for m in graph.find_children(package))
        for i, a in enumerate(children):
            for b in children[i + 1 :]:
                if graph.chain_exists(importer=a, imported=b, as_packages=True) and graph.chain_exists(
                    importer=b, imported=a, as_packages=True
                ):
                    circles.append(f"{a} <-> {b}")
    assert circles == []
