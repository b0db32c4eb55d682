"""Control catalogues: the frameworks decisions are mapped to, with each control's id and title (data files)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

CATALOGUE_DIR = Path(__file__).resolve().parent / "catalogues"


@dataclass(frozen=True)
class Control:
    id: str
    title: str


@dataclass(frozen=True)
class Framework:
    id: str
    title: str
    edition: str
    note: str
    controls: tuple[Control, ...]

    def control(self, control_id: str) -> Control | None:
        return next((c for c in self.controls if c.id == control_id), None)


@cache
def frameworks() -> dict[str, Framework]:
    """Every catalogue under aispm/catalogues/, keyed by the framework id packs use in `compliance`."""
    found: dict[str, Framework] = {}
    for path in sorted(CATALOGUE_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for c in data["controls"]:
            if set(c) != {"id", "title"} or not c["title"]:
                # An unquoted comma in a flow mapping splits the title into a stray key: refuse it.
                raise ValueError(f"{path.name}: control {c.get('id')!r} must have exactly an id and a title")
        controls = tuple(Control(str(c["id"]), str(c["title"])) for c in data["controls"])
        found[data["framework"]] = Framework(
            data["framework"], data["title"], str(data.get("edition", "")), data.get("note", ""), controls
        )
    return found


def framework_get(framework_id: str) -> Framework | None:
    return frameworks().get(framework_id)
