"""A fast validator for the JSON Schema subset policy-schema.json uses, with messages written for pack authors.

jsonschema validates the same schema (the tests check both agree on the fixtures), but it is an order of
magnitude slower on a 1,000-rule pack, and its oneOf messages do not say which key was wrong.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .schema import policy_schema

_PREFERENCE = ["string", "array", "object", "integer", "number", "boolean", "null"]
_NAMES = {
    "array": "a list",
    "object": "a mapping",
    "string": "a string",
    "integer": "an integer",
    "boolean": "true/false",
    "number": "a number",
    "null": "null",
}


def kind_of(value) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "nothing"
    return "a string"


def _is_type(value, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "null":
        return value is None
    return True


def _names(kinds) -> str:
    ordered = sorted(set(kinds), key=lambda k: _PREFERENCE.index(k) if k in _PREFERENCE else 99)
    return " or ".join(_NAMES.get(k, k) for k in ordered)


@lru_cache(maxsize=256)
def _pattern(source: str) -> re.Pattern[str]:
    return re.compile(source)


class _Validator:
    def __init__(self, root: dict) -> None:
        self.root = root
        self._types: dict[int, set[str]] = {}

    def resolve(self, schema: dict) -> dict:
        while "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            schema = self.root["$defs"][name]
        return schema

    def types_of(self, schema: dict) -> set[str]:
        """The JSON types a (sub)schema accepts, for 'expected X, got Y' messages."""
        cached = self._types.get(id(schema))
        if cached is None:
            cached = self._types[id(schema)] = self._types_of(schema)
        return cached

    def _types_of(self, schema: dict) -> set[str]:
        schema = self.resolve(schema)
        if "type" in schema:
            kinds = schema["type"]
            return set(kinds) if isinstance(kinds, list) else {kinds}
        if "oneOf" in schema:
            out: set[str] = set()
            for branch in schema["oneOf"]:
                out |= self.types_of(branch)
            return out
        if "enum" in schema:
            return {"string"}
        if "const" in schema:
            return {"boolean"} if isinstance(schema["const"], bool) else {"string"}
        return set()

    def errors(self, value, schema: dict, path: tuple) -> list[tuple[tuple, str]]:
        schema = self.resolve(schema)
        out: list[tuple[tuple, str]] = []
        if "oneOf" in schema:
            return self._one_of(value, schema, path)
        if "type" in schema:
            kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not any(_is_type(value, kind) for kind in kinds):
                return [(path, f"expected {_names(kinds)}, got {kind_of(value)}")]
        if "const" in schema and value != schema["const"]:
            return [(path, f"must be {schema['const']!r}")]
        if "enum" in schema and value not in schema["enum"]:
            return [(path, f"{value!r} is not one of {schema['enum']}")]
        if isinstance(value, str):
            if len(value) < schema.get("minLength", 0):
                out.append((path, "must not be empty"))
            if "pattern" in schema and not _pattern(schema["pattern"]).search(value):
                out.append((path, f"{value!r} does not match the pattern {schema['pattern']}"))
        if isinstance(value, int | float) and not isinstance(value, bool):
            if "minimum" in schema and value < schema["minimum"]:
                out.append((path, f"must be at least {schema['minimum']}"))
            if "maximum" in schema and value > schema["maximum"]:
                out.append((path, f"must be at most {schema['maximum']}"))
        if isinstance(value, list):
            if len(value) < schema.get("minItems", 0):
                out.append((path, f"needs at least {schema['minItems']} item(s)"))
            if "items" in schema:
                for index, item in enumerate(value):
                    out += self.errors(item, schema["items"], path + (index,))
        if isinstance(value, dict):
            out += self._object(value, schema, path)
        return out

    def _object(self, value: dict, schema: dict, path: tuple) -> list[tuple[tuple, str]]:
        out: list[tuple[tuple, str]] = []
        properties = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                out.append((path, f"'{key}' is a required key"))
        if len(value) < schema.get("minProperties", 0):
            out.append((path, "must not be empty"))
        names = schema.get("propertyNames")
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if names is not None and "pattern" in names and not _pattern(names["pattern"]).search(str(key)):
                out.append((path + (key,), f"key {key!r} does not match the pattern {names['pattern']}"))
            if key in properties:
                out += self.errors(item, properties[key], path + (key,))
            elif extra is False:
                allowed = ", ".join(sorted(properties))
                out.append((path + (key,), f"unknown key {key!r} (allowed: {allowed})"))
            elif isinstance(extra, dict):
                out += self.errors(item, extra, path + (key,))
        return out

    def _one_of(self, value, schema: dict, path: tuple) -> list[tuple[tuple, str]]:
        branches = schema["oneOf"]
        base = {k: v for k, v in schema.items() if k != "oneOf"}
        fitting = [branch for branch in branches if self._fits(value, branch)]
        if len(fitting) == 1 and self.types_of(fitting[0]):
            # the common "a glob or a list of globs" case: only one branch can apply to this type
            extra = self.errors(value, base, path) if base else []
            return extra + self.errors(value, fitting[0], path)
        results = [self.errors(value, branch, path) for branch in branches]
        passing = [index for index, errors in enumerate(results) if not errors]
        extra = self.errors(value, base, path) if base else []
        if len(passing) == 1:
            return extra
        if len(passing) > 1:
            required = [b.get("required") for b in branches if "required" in b]
            if required:
                keys = " or ".join(f"'{r[0]}'" for r in required)
                return extra + [(path, f"give exactly one of {keys}")]
            return extra
        # nothing passed: report against the branch whose type fits the value, else a type message
        fitting = [i for i, branch in enumerate(branches) if self._fits(value, branch)]
        if not fitting:
            kinds: set[str] = set()
            for branch in branches:
                kinds |= self.types_of(branch)
            if all(("required" in b and len(b) == 1) for b in branches):
                keys = " or ".join(f"'{b['required'][0]}'" for b in branches)
                return extra + [(path, f"give exactly one of {keys}")]
            return extra + [(path, f"expected {_names(kinds)}, got {kind_of(value)}")]
        best = min((results[i] for i in fitting), key=len)
        return extra + best

    def _fits(self, value, branch: dict) -> bool:
        kinds = self.types_of(branch)
        if not kinds:
            return True
        return any(_is_type(value, kind) for kind in kinds)


@lru_cache(maxsize=1)
def _validator() -> _Validator:
    return _Validator(policy_schema())


def schema_errors(data) -> list[tuple[tuple, str]]:
    """(key path, message) for everything in `data` the policy schema rejects."""
    return _validator().errors(data, policy_schema(), ())


def validate_value(value, schema: dict, path: tuple) -> list[tuple[tuple, str]]:
    """Errors of one value against a piece of the policy schema (used for v1 packs' tests)."""
    return _validator().errors(value, schema, path)
