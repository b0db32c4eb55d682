"""The rules of a stored policy version with their control mappings, parsed once per digest (no services)."""

from __future__ import annotations

import json

from policies.models import PolicyVersion

_compiled_cache: dict[str, dict] = {}


def compiled_rules_of(version: PolicyVersion) -> dict:
    """{rules: [{id, compliance}], tests: [...]} of a version, parsed once per digest."""
    cached = _compiled_cache.get(version.digest)
    if cached is None:
        raw = PolicyVersion.objects.values_list("compiled_json", flat=True).get(pk=version.pk)
        data = json.loads(raw) if isinstance(raw, str) else (raw or {})
        cached = {
            "rules": [
                {"id": r.get("id"), "compliance": r.get("compliance") or {}} for r in data.get("rules", [])
            ],
            "tests": list(data.get("tests") or []),
        }
        _compiled_cache[version.digest] = cached
    return cached
