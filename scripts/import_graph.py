"""Print which top-level package imports which (from grimp), and any cycle among them."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import grimp

# The one list of top-level packages: pyproject.toml's import-linter root_packages.
PACKAGES = tuple(
    tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8"))[
        "tool"
    ]["importlinter"]["root_packages"]
)


def main() -> int:
    present = [p for p in PACKAGES if __import__("importlib").util.find_spec(p) is not None]
    graph = grimp.build_graph(*present, include_external_packages=False, cache_dir=None)
    edges: dict[str, set[str]] = {p: set() for p in present}
    for importer in graph.modules:
        top = importer.split(".")[0]
        for imported in graph.find_modules_directly_imported_by(importer):
            other = imported.split(".")[0]
            if other != top and other in edges:
                edges[top].add(other)
    for pkg in present:
        print(f"{pkg:13} -> {', '.join(sorted(edges[pkg])) or '(nothing)'}")
    cycles = sorted({tuple(sorted((a, b))) for a in edges for b in edges[a] if a in edges.get(b, ())})
    print("two-way pairs:", ", ".join(f"{a}<->{b}" for a, b in cycles) or "none")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())
