"""RFC 8785 (JCS) canonical JSON for evidence values, restricted to integers (no fractional numbers)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

# I-JSON / JCS numbers are IEEE-754 doubles; only integers in this range survive a round trip exactly.
MAX_SAFE_INTEGER = 2**53 - 1
GENESIS_HASH = "0" * 64

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
_FAST_DUMPS = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, check_circular=False
).encode


class CanonicalizationError(ValueError):
    """A value cannot be represented in the evidence subset of RFC 8785."""


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _escape(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise CanonicalizationError("string contains a lone surrogate, which is not valid Unicode")
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch < " ":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _number(value: int | float) -> str:
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise CanonicalizationError("NaN and Infinity are not JSON numbers")
        if not value.is_integer():
            raise CanonicalizationError(
                f"fractional number {value!r} is not allowed in evidence; use a string"
            )
        value = int(value)
    if abs(value) > MAX_SAFE_INTEGER:
        raise CanonicalizationError(f"integer {value} is outside ±(2**53-1)")
    return str(value)


def _serialize(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int | float):
        out.append(_number(value))
    elif isinstance(value, str):
        out.append(_escape(value))
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _serialize(item, out)
        out.append("]")
    elif isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise CanonicalizationError(f"object key {key!r} is not a string")
        out.append("{")
        for i, key in enumerate(sorted(value, key=_utf16_key)):
            if i:
                out.append(",")
            out.append(_escape(key))
            out.append(":")
            _serialize(value[key], out)
        out.append("}")
    else:
        raise CanonicalizationError(f"type {type(value).__name__} is not allowed in evidence")


def canonicalize_slow(value: Any) -> bytes:
    """The reference implementation, character by character, of the rules in docs/evidence-format.md."""
    out: list[str] = []
    _serialize(value, out)
    return "".join(out).encode("utf-8")


def _plain(value: Any) -> bool:
    """True when the value only holds types json.dumps renders exactly as JCS (checked recursively)."""
    if value is None or value is True or value is False or isinstance(value, str):
        return True
    if isinstance(value, int):
        return -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) for k in value) and all(_plain(v) for v in value.values())
    return False


def canonicalize(value: Any) -> bytes:
    """Canonical bytes of a JSON value (RFC 8785, integers only).

    json.dumps with these options escapes exactly like JCS; its key order (code points) equals JCS's
    UTF-16 order whenever the output is ASCII, so only non-ASCII output takes the reference path.
    """
    if not _plain(value):
        return canonicalize_slow(value)
    text = _FAST_DUMPS(value)
    if text.isascii():
        return text.encode("ascii")
    return canonicalize_slow(value)


def canonicalize_trusted(value: Any) -> bytes:
    """Like canonicalize, for values that came out of json.loads with integer checks (see parse_line)."""
    text = _FAST_DUMPS(value)
    if text.isascii():
        return text.encode("ascii")
    return canonicalize_slow(value)


def normalize(value: Any) -> Any:
    """Return the value as it will read back from canonical JSON (integral floats become ints, tuples lists).

    Raises CanonicalizationError for anything outside the evidence subset, naming the offending path.
    """

    def walk(v: Any, path: str) -> Any:
        if v is None or isinstance(v, bool | str):
            if isinstance(v, str):
                try:
                    v.encode("utf-8")
                except UnicodeEncodeError:
                    raise CanonicalizationError(f"{path}: string contains a lone surrogate")
            return v
        if isinstance(v, int | float):
            try:
                return int(_number(v))
            except CanonicalizationError as exc:
                raise CanonicalizationError(f"{path}: {exc}")
        if isinstance(v, list | tuple):
            return [walk(item, f"{path}[{i}]") for i, item in enumerate(v)]
        if isinstance(v, dict):
            result = {}
            for k, item in v.items():
                if not isinstance(k, str):
                    raise CanonicalizationError(f"{path}: object key {k!r} is not a string")
                result[k] = walk(item, f"{path}.{k}")
            return result
        raise CanonicalizationError(f"{path}: type {type(v).__name__} is not allowed in evidence")

    return walk(value, "$")


def _checked_int(text: str) -> int:
    value = int(text)
    if abs(value) > MAX_SAFE_INTEGER:
        raise CanonicalizationError(f"integer {text} is outside ±(2**53-1)")
    return value


def _no_float(text: str) -> float:
    raise CanonicalizationError(f"fractional or exponent number {text} is not allowed in evidence")


def _no_constant(text: str) -> float:
    raise CanonicalizationError(f"{text} is not a JSON number")


_DECODER = json.JSONDecoder(parse_int=_checked_int, parse_float=_no_float, parse_constant=_no_constant)
_SCAN = _DECODER.scan_once


def parse_line(line: bytes | str) -> Any:
    """Parse one JSON text, refusing numbers outside the evidence subset."""
    text = line.decode("utf-8") if isinstance(line, bytes) else line
    try:
        value, end = _SCAN(text, 0)
    except StopIteration:
        raise ValueError("not a JSON value at column 1")
    if end != len(text):
        raise ValueError(f"unexpected data after the JSON value at column {end + 1}")
    return value


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record_hash(record: dict) -> str:
    """SHA-256 (lowercase hex) of the canonical JSON of the record without its `hash` member."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return sha256_hex(canonicalize(body))
