"""Field validators shared by the API serializers."""

from __future__ import annotations

from rest_framework import serializers


def storable_json(value) -> None:
    """Refuse a JSON value PostgreSQL cannot store: a NUL or a lone surrogate in any key or string.

    DRF's CharField refuses both on its own; a JSONField or DictField passes them through to jsonb,
    which rejects them at write time (a 500 for bad input)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                raise serializers.ValidationError("Null characters are not allowed, in keys or values.")
            for ch in item:
                if 0xD800 <= ord(ch) <= 0xDFFF:
                    raise serializers.ValidationError(
                        f"Surrogate characters are not allowed, in keys or values: U+{ord(ch):X}."
                    )
