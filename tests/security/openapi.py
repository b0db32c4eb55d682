"""The API's operations, read from the checked-in OpenAPI schema (which CI keeps equal to the code),
so that every new endpoint is walked by the security suite without anyone listing it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    query: tuple = field(default=())  # (name, schema) of every declared query parameter
    has_body: bool = False
    is_list: bool = False

    def concrete_path(self, **ids: str) -> str:
        """The path with each {param} replaced: by ids[param] when given, else an id nobody has."""
        return re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), "nope_00000000000000000000"), self.path)

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"


@cache
def schema() -> dict:
    return yaml.safe_load(SCHEMA.read_text())


def operations(*, with_body: bool | None = None, lists: bool | None = None) -> list[Operation]:
    found = []
    for path, item in schema()["paths"].items():
        for method, op in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            query = tuple(
                (p["name"], p.get("schema", {})) for p in op.get("parameters", []) if p["in"] == "query"
            )
            ok = op.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {})
            ref = ok.get("schema", {}).get("$ref", "")
            operation = Operation(
                method=method,
                path=path,
                query=query,
                has_body="requestBody" in op,
                is_list=method == "get" and ("Paginated" in ref or any(n == "cursor" for n, _ in query)),
            )
            if with_body is not None and operation.has_body != with_body:
                continue
            if lists is not None and operation.is_list != lists:
                continue
            found.append(operation)
    return found
