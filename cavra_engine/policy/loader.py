"""Loading policy packs (v2 and CAVRA v1) from YAML, with located validation errors and extends resolution."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import PolicyError
from .pack_checks import _line, _schema_errors, _semantic_errors, _v1_errors, as_list, format_path
from .validate import kind_of as _kind_of

BUNDLED_DIR = Path(__file__).resolve().parent.parent / "packs"
# The full pack a new tenant and `cavra evaluate` start from: every shipped safety canary is held back by it.
RECOMMENDED_PACK = "compliance-overlay"
API_V2 = "cavra.policy/v2"
API_V1 = "cavra.policy/v1"
V1_SECTIONS = ("filesystem", "commands", "git", "mcp")

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG = "tag:yaml.org,2002:str"


@dataclass
class Pack:
    """A loaded, validated pack with its parents resolved (not yet compiled)."""

    id: str
    title: str
    version: str
    description: str
    engine: str  # "v2" or "v1"
    data: dict
    source: str
    lines: dict = field(default_factory=dict, repr=False)
    parents: list[Pack] = field(default_factory=list, repr=False)
    readme: str = ""

    def line_of(self, path: tuple) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)


@dataclass(frozen=True)
class PackInfo:
    id: str
    title: str
    version: str
    description: str
    digest: str
    path: str = ""
    readme: str = ""

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "version": self.version,
            "description": self.description,
            "digest": self.digest,
            "path": self.path,
            "readme": self.readme,
        }


# -- YAML with line numbers ----------------------------------------------------------------------


def _pack_error(source: str, line: int | None, path: str, message: str) -> PolicyError:
    """A PolicyError about one place of a pack (file, line, path), as every check reports it."""
    return PolicyError([{"file": source, "line": line, "path": path, "message": message}])


def _compose(text: str, source: str) -> tuple[object, dict]:
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise _pack_error(source, mark.line + 1 if mark else None, "", f"malformed YAML: {problem}")
    lines: dict = {}
    errors: list[dict] = []
    if node is None:
        return None, lines
    constructor = yaml.SafeLoader("")

    def build(current, path: tuple, depth: int):
        if depth > 64:
            errors.append(
                {
                    "file": source,
                    "line": current.start_mark.line + 1,
                    "path": format_path(path),
                    "message": "nesting too deep",
                }
            )
            return None
        lines.setdefault(path, current.start_mark.line + 1)
        if isinstance(current, yaml.MappingNode):
            result: dict = {}
            for key_node, value_node in current.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    errors.append(
                        {
                            "file": source,
                            "line": key_node.start_mark.line + 1,
                            "path": format_path(path),
                            "message": "YAML merge keys (<<) are not supported",
                        }
                    )
                    continue
                key = (
                    constructor.construct_object(key_node, deep=True)
                    if isinstance(key_node, yaml.ScalarNode)
                    else None
                )
                if not isinstance(key, str | int | float | bool) or key is None:
                    errors.append(
                        {
                            "file": source,
                            "line": key_node.start_mark.line + 1,
                            "path": format_path(path),
                            "message": "mapping keys must be strings",
                        }
                    )
                    continue
                key = str(key) if not isinstance(key, str) else key
                if key in result:
                    errors.append(
                        {
                            "file": source,
                            "line": key_node.start_mark.line + 1,
                            "path": format_path(path + (key,)),
                            "message": f"duplicate key {key!r}",
                        }
                    )
                    continue
                lines[path + (key,)] = key_node.start_mark.line + 1
                result[key] = build(value_node, path + (key,), depth + 1)
            return result
        if isinstance(current, yaml.SequenceNode):
            return [build(item, path + (index,), depth + 1) for index, item in enumerate(current.value)]
        if isinstance(current, yaml.ScalarNode):
            if current.tag == _STR_TAG:
                return current.value
            try:
                value = constructor.construct_object(current, deep=True)
            except yaml.YAMLError as exc:
                errors.append(
                    {
                        "file": source,
                        "line": current.start_mark.line + 1,
                        "path": format_path(path),
                        "message": f"bad value: {exc}",
                    }
                )
                return None
            if not isinstance(value, str | int | float | bool) and value is not None:
                value = str(value)  # dates and other YAML types become strings
            return value
        errors.append(
            {
                "file": source,
                "line": current.start_mark.line + 1,
                "path": format_path(path),
                "message": "unsupported YAML node",
            }
        )
        return None

    try:
        data = build(node, (), 0)
    except RecursionError:
        raise PolicyError("malformed YAML: nesting too deep", file=source)
    if errors:
        raise PolicyError(errors)
    return data, lines


# -- loading and extends ------------------------------------------------------------------------------


def _is_v1(data: dict) -> bool:
    if data.get("apiVersion") == API_V1:
        return True
    return "apiVersion" not in data and any(section in data for section in V1_SECTIONS)


def _search_roots(pack_path: Path | None, search_dirs) -> list[Path]:
    roots: list[Path] = []
    if pack_path is not None:
        roots.append(pack_path.parent)
    roots.extend(Path(d) for d in search_dirs or ())
    for entry in os.environ.get("CAVRA_POLICY_DIR", "").split(os.pathsep):
        if entry.strip():
            roots.append(Path(entry.strip()))
    roots.append(BUNDLED_DIR)
    return roots


def find_pack_file(pack_id: str, roots: list[Path]) -> Path | None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}", pack_id or ""):
        return None
    for root in roots:
        for candidate in (root / f"{pack_id}.yaml", root / f"{pack_id}.yml", root / pack_id / "policy.yaml"):
            if candidate.is_file():
                return candidate
    return None


def load_pack_text(
    text: str,
    *,
    source_name: str = "<string>",
    search_dirs=(),
    parent_sources: dict[str, str] | None = None,
    _path: Path | None = None,
    _stack: tuple = (),
) -> Pack:
    """Parses and validates a pack; parents named by extends/inherits are loaded too.

    `parent_sources` maps pack ids to pack text (the portal's tenant packs); a parent found there is
    used before the search directories and the bundled packs.
    """
    if not isinstance(text, str):
        raise PolicyError("pack text must be a string", file=source_name)
    data, lines = _compose(text, source_name)
    if data is None:
        raise _pack_error(source_name, 1, "", "empty pack")
    if not isinstance(data, dict):
        raise _pack_error(source_name, 1, "", f"a pack is a mapping, got {_kind_of(data)}")
    if _is_v1(data):
        errors = _v1_errors(data, lines, source_name)
        engine = "v1"
        meta = data.get("metadata") or {}
        fallback = Path(source_name).stem if _path is not None else "v1-pack"
        pack_id = str(meta.get("id") or meta.get("name") or data.get("name") or fallback)
        pack_id = re.sub(r"[^a-z0-9._-]+", "-", pack_id.lower()).strip("-") or "v1-pack"
        title = str(meta.get("title") or meta.get("name") or pack_id)
        version = str(meta.get("version") or data.get("version") or "1")
        description = str(meta.get("description") or data.get("description") or "")
        readme = str(meta.get("readme") or "")
        parent_key = "inherits" if "inherits" in data else "extends"
    else:
        errors = _schema_errors(data, lines, source_name)
        bad_rules = {e["_rule"] for e in errors if e.get("_rule") is not None}
        top_level_bad = any(e.get("_rule") is None for e in errors)
        for error in errors:
            error.pop("_rule", None)
        if not top_level_bad:
            errors += _semantic_errors(data, lines, source_name, skip_rules=bad_rules, partial=bool(errors))
            errors.sort(key=lambda e: e["line"] or 0)
        engine = "v2"
        meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
        pack_id = str(meta.get("id", ""))
        title = str(meta.get("title", ""))
        version = str(meta.get("version", ""))
        description = str(meta.get("description", ""))
        readme = str(meta.get("readme", ""))
        parent_key = "extends" if "extends" in data else "inherits"
    if errors:
        raise PolicyError(errors)
    if "extends" in data and "inherits" in data:
        raise _pack_error(
            source_name,
            _line(lines, ("inherits",)),
            "inherits",
            "use either 'extends' or 'inherits', not both",
        )
    pack = Pack(
        id=pack_id,
        title=title,
        version=version,
        description=description,
        engine=engine,
        data=data,
        source=source_name,
        lines=lines,
        readme=readme,
    )
    stack = _stack + (pack_id,)
    roots = _search_roots(_path, search_dirs)
    parent_container, parent_path = data, (parent_key,)
    if engine == "v1" and parent_key not in data and isinstance(meta, dict) and "inherits" in meta:
        # CAVRA v1 names its parents in metadata.inherits.
        parent_container, parent_key, parent_path = meta, "inherits", ("metadata", "inherits")
    parent_ids = as_list(parent_container.get(parent_key))
    for index, parent_id in enumerate(parent_ids):
        where = (*parent_path, index) if isinstance(parent_container.get(parent_key), list) else parent_path

        def refuse(message: str, where=where) -> PolicyError:
            return _pack_error(source_name, _line(lines, where), format_path(where), message)

        if not isinstance(parent_id, str):
            raise refuse("expected a pack id")
        if parent_id in stack:
            raise refuse(f"extends cycle: {' -> '.join(stack + (parent_id,))}")
        if parent_sources and parent_id in parent_sources:
            parent = load_pack_text(
                parent_sources[parent_id],
                source_name=f"{parent_id} (tenant pack)",
                search_dirs=search_dirs,
                parent_sources=parent_sources,
                _stack=stack,
            )
        else:
            parent_file = find_pack_file(parent_id, roots)
            if parent_file is None:
                searched = ", ".join(str(root) for root in roots)
                raise refuse(f"parent pack {parent_id!r} not found (searched: {searched})")
            parent = _load_file(parent_file, search_dirs=search_dirs, stack=stack)
        if parent.engine != engine:
            raise refuse(f"a {engine} pack cannot extend the {parent.engine} pack {parent_id!r}")
        pack.parents.append(parent)
    return pack


def _load_file(path: Path, *, search_dirs=(), stack: tuple = ()) -> Pack:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"cannot read pack: {exc.strerror or exc}", file=str(path))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError("pack is not UTF-8 text", file=str(path))
    return load_pack_text(text, source_name=str(path), search_dirs=search_dirs, _path=path, _stack=stack)


def load_pack_file(path, *, search_dirs=()) -> Pack:
    """Loads a pack file (v2 or v1) and its parents; raises PolicyError when invalid."""
    return _load_file(Path(path), search_dirs=search_dirs)


def load_bundled_pack(pack_id: str) -> Pack:
    path = find_pack_file(pack_id, [BUNDLED_DIR])
    if path is None:
        raise PolicyError(f"no bundled pack {pack_id!r}", file=str(BUNDLED_DIR))
    return _load_file(path)


def bundled_pack_paths() -> list[Path]:
    if not BUNDLED_DIR.is_dir():
        return []
    paths = sorted(BUNDLED_DIR.glob("*.yaml")) + sorted(BUNDLED_DIR.glob("*/policy.yaml"))
    return paths
