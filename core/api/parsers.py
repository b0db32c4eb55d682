"""The one JSON parser of the API: refuses, with a 400 naming the limit, any body nested too deep,
with too many members in one object or array, or with an over-long string, before anything reads it.

Python's json module recurses once per nesting level, so a body a few thousand levels deep would
raise RecursionError (a 500); the depth is therefore measured on the raw text, before parsing."""

from __future__ import annotations

import codecs
import json
import re
from itertools import accumulate

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

DEFAULT_LIMITS = {"max_depth": 64, "max_members": 10_000, "max_string_length": 65_536}

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class JSONLimitExceeded(ParseError):
    default_code = "json-limit-exceeded"


def json_limits() -> dict[str, int]:
    return {**DEFAULT_LIMITS, **getattr(settings, "CAVRA_API_JSON_LIMITS", {})}


def _nesting_depth(without_strings: str) -> int:
    """The deepest bracket nesting of JSON text whose string literals were blanked out. The running
    sum is computed by C-level iterators (map/accumulate/max): no Python loop per character."""
    brackets = _NOT_BRACKET.sub("", without_strings).encode()
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)


def check_json_limits(text: str, limits: dict[str, int] | None = None):
    """Parse `text` as JSON within `limits`; raise JSONLimitExceeded naming the limit, or ParseError."""
    limits = limits or json_limits()
    max_depth, max_members, max_string = (
        limits["max_depth"],
        limits["max_members"],
        limits["max_string_length"],
    )
    literals = _STRING.findall(text)
    without_strings = _STRING.sub('""', text)
    if _nesting_depth(without_strings) > max_depth:
        raise JSONLimitExceeded(
            f"JSON parse error: the body is nested deeper than {max_depth} levels (limit max_depth={max_depth})."
        )
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"JSON parse error - {exc}")
    # Walk the parsed value only when a limit could be exceeded at all: no container has more members
    # than there are commas + 1, and no decoded string is longer than its literal.
    longest_literal = max(map(len, literals), default=2) - 2
    if without_strings.count(",") + 1 <= max_members and longest_literal <= max_string:
        return data
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, dict | list):
            if len(item) > max_members:
                raise JSONLimitExceeded(
                    f"JSON parse error: an object or array has {len(item)} members"
                    f" (limit max_members={max_members})."
                )
            if isinstance(item, dict):
                pending.extend(item.keys())
                pending.extend(item.values())
            else:
                pending.extend(item)
        elif isinstance(item, str) and len(item) > max_string:
            raise JSONLimitExceeded(
                f"JSON parse error: a string is {len(item)} characters long"
                f" (limit max_string_length={max_string})."
            )
    return data


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class LimitedJSONParser(JSONParser):
    """DRF's JSONParser with the limits above (settings.CAVRA_API_JSON_LIMITS overrides them)."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        raw = stream.read() if stream is not None else b""
        try:
            text = codecs.decode(raw, encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"JSON parse error - the body is not valid {encoding}: {exc}")
        return check_json_limits(text)
