"""Exact member sets, types and patterns of every evidence document (docs/evidence-format.md, section 2a).

Each check returns (code, member, message) triples; the verifier attaches file, line and seq. Django-free.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime

from .canonical import MAX_SAFE_INTEGER, CanonicalizationError, canonicalize, canonicalize_trusted, parse_line

Issue = tuple[str, str, str]  # (error code, member path, message)

TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z\Z")
HEX64 = re.compile(r"[0-9a-f]{64}\Z")
HEX128 = re.compile(r"[0-9a-f]{128}\Z")
RECORD_ID = re.compile(r"evd_[0-9a-f]{24}\Z")
KEY_ID = re.compile(r"key_[0-9a-f]{24}\Z")
KIND = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_-]+)*\Z")
ACTOR = re.compile(r"(user|agent|system):[^\x00-\x1f]+\Z")
TENANT = re.compile(r"[A-Za-z0-9_-]{1,50}\Z")
MATCHED_SEQS_LIMIT = 10_000

# Error codes (docs/evidence-format.md, section 8 lists them with their meaning).
JSON_SYNTAX = "json.syntax"
JSON_NUMBER = "json.number"
JSON_DUPLICATE_KEY = "json.duplicate_key"
JSON_SURROGATE = "json.surrogate"
JSON_NOT_CANONICAL = "json.not_canonical"
MEMBER_MISSING = "member.missing"
MEMBER_EXTRA = "member.extra"
MEMBER_TYPE = "member.type"
MEMBER_FORMAT = "member.format"

Check = Callable[[object], "tuple[str, str] | None"]  # value -> (code, message) or None


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def string(pattern: re.Pattern | None = None, describe: str = "", max_length: int | None = None) -> Check:
    def check(value):
        if not isinstance(value, str):
            return MEMBER_TYPE, f"must be a string, found {_type_name(value)}"
        if pattern is not None and not pattern.match(value):
            return MEMBER_FORMAT, f"must be {describe}, found {_short(value)}"
        if max_length is not None and len(value) > max_length:
            return MEMBER_FORMAT, f"must be at most {max_length} characters"
        return None

    return check


def timestamp(value):
    if not isinstance(value, str):
        return MEMBER_TYPE, f"must be a string, found {_type_name(value)}"
    if not TIMESTAMP.match(value):
        return MEMBER_FORMAT, f"must be a UTC time like 2026-01-01T00:00:00.000000Z, found {_short(value)}"
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return MEMBER_FORMAT, f"is not a real date and time: {_short(value)}"
    return None


def integer(minimum: int = 0, maximum: int = MAX_SAFE_INTEGER) -> Check:
    def check(value):
        if not _is_int(value):
            return MEMBER_TYPE, f"must be an integer, found {_type_name(value)}"
        if not minimum <= value <= maximum:
            return MEMBER_FORMAT, f"must be between {minimum} and {maximum}, found {value}"
        return None

    return check


def nullable(inner: Check) -> Check:
    def check(value):
        return None if value is None else inner(value)

    return check


def constant(expected) -> Check:
    def check(value):
        return None if value == expected else (MEMBER_FORMAT, f"must be {expected!r}, found {_short(value)}")

    return check


def json_object(value):
    return None if isinstance(value, dict) else (MEMBER_TYPE, f"must be an object, found {_type_name(value)}")


def _type_name(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if _is_int(value):
        return "an integer"
    return {str: "a string", list: "an array", dict: "an object"}.get(type(value), type(value).__name__)


def _short(value) -> str:
    text = json.dumps(value, ensure_ascii=True) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def members(document, spec: dict[str, Check], path: str = "") -> list[Issue]:
    """Exact member set plus one check per member; path prefixes member names (e.g. "selection.")."""
    if not isinstance(document, dict):
        return [(MEMBER_TYPE, path.rstrip(".") or "$", f"must be an object, found {_type_name(document)}")]
    issues: list[Issue] = []
    for name in sorted(spec.keys() - document.keys()):
        issues.append((MEMBER_MISSING, path + name, "member is missing"))
    for name in sorted(document.keys() - spec.keys()):
        issues.append((MEMBER_EXTRA, path + name, "member is not allowed here"))
    for name, check in spec.items():
        if name in document:
            found = check(document[name])
            if found:
                issues.append((found[0], path + name, found[1]))
    return issues


HEX64_CHECK = string(HEX64, "64 lowercase hex digits")
HEX128_CHECK = string(HEX128, "128 lowercase hex digits")
KEY_ID_CHECK = string(KEY_ID, "key_ followed by 24 lowercase hex digits")
TENANT_CHECK = string(TENANT, "a tenant name of 1 to 50 letters, digits, '-' or '_'")
SEQ_CHECK = integer(1)

RECORD_SPEC: dict[str, Check] = {
    "id": string(RECORD_ID, "evd_ followed by 24 lowercase hex digits"),
    "tenant": TENANT_CHECK,
    "seq": SEQ_CHECK,
    "kind": string(KIND, "a dotted lowercase name like decision.recorded", 100),
    "subject": string(None, "", 300),
    "payload": json_object,
    "actor": nullable(string(ACTOR, "user:<email>, agent:<id>, system:<name> or null", 300)),
    "created_at": timestamp,
    "prev_hash": HEX64_CHECK,
    "hash": HEX64_CHECK,
}

CHECKPOINT_SPEC: dict[str, Check] = {
    "type": constant("cavra.evidence.checkpoint/v1"),
    "tenant": TENANT_CHECK,
    "seq": integer(0),
    "head_hash": HEX64_CHECK,
    "created_at": timestamp,
    "key_id": KEY_ID_CHECK,
    "signature": HEX128_CHECK,
}

CHECKPOINT_V2_SPEC: dict[str, Check] = {
    **CHECKPOINT_SPEC,
    "type": constant("cavra.evidence.checkpoint/v2"),
    "root_hash": HEX64_CHECK,
}


def checkpoint_spec(document) -> dict[str, Check]:
    """v2 (signed tree head) when the type says so, else v1."""
    if isinstance(document, dict) and document.get("type") == "cavra.evidence.checkpoint/v2":
        return CHECKPOINT_V2_SPEC
    return CHECKPOINT_SPEC


KEY_SPEC: dict[str, Check] = {
    "key_id": KEY_ID_CHECK,
    "algorithm": constant("Ed25519"),
    "public_key": HEX64_CHECK,
    "fingerprint": HEX64_CHECK,
    "valid_from": timestamp,
    "valid_until": nullable(timestamp),
}

TRUST_ROOT_SPEC: dict[str, Check] = {
    "type": constant("cavra.evidence.trust-root/v1"),
    "tenant": TENANT_CHECK,
    "created_at": timestamp,
    "keys": lambda v: None if isinstance(v, list) and v else (MEMBER_TYPE, "must be a non-empty array"),
}

MANIFEST_SIG_SPEC: dict[str, Check] = {
    "type": constant("cavra.evidence.manifest-signature/v1"),
    "key_id": KEY_ID_CHECK,
    "algorithm": constant("Ed25519"),
    "signature": HEX128_CHECK,
}

FILTER_SPEC: dict[str, Check] = {
    "since": nullable(timestamp),
    "until": nullable(timestamp),
    "session": nullable(string(None, "", 64)),
    "agent": nullable(string(None, "", 64)),
    "repository": nullable(string(None, "", 300)),
    "first_seq": nullable(SEQ_CHECK),
    "last_seq": nullable(SEQ_CHECK),
}

COUNTS_SPEC: dict[str, Check] = {"records": integer(1), "checkpoints": integer(1)}
FILE_ENTRY_SPEC: dict[str, Check] = {"sha256": HEX64_CHECK, "bytes": integer(0)}


def _matched_seqs(value):
    if value is None:
        return None
    if not isinstance(value, list):
        return MEMBER_TYPE, f"must be an array or null, found {_type_name(value)}"
    if len(value) > MATCHED_SEQS_LIMIT:
        return MEMBER_FORMAT, f"lists {len(value)} seqs, at most {MATCHED_SEQS_LIMIT} are allowed"
    for index, seq in enumerate(value):
        if not _is_int(seq) or seq < 1:
            return MEMBER_TYPE, f"item {index} must be a positive integer, found {_short(seq)}"
        if index and seq <= value[index - 1]:
            return MEMBER_FORMAT, f"must be strictly increasing (item {index} is {seq})"
    return None


SELECTION_SPEC: dict[str, Check] = {
    "filter": json_object,
    "matched": integer(1),
    "matched_seqs": _matched_seqs,
}

MANIFEST_V1_SPEC: dict[str, Check] = {
    "format": constant("cavra.evidence.bundle/v1"),
    "tenant": TENANT_CHECK,
    "created_at": timestamp,
    "first_seq": SEQ_CHECK,
    "last_seq": SEQ_CHECK,
    "counts": json_object,
    "selection": json_object,
    "files": json_object,
}


def _checkpoint_seqs(value):
    if not isinstance(value, list) or not value:
        return MEMBER_TYPE, "must be a non-empty array of checkpoint seqs"
    for index, seq in enumerate(value):
        if not _is_int(seq) or seq < 0:
            return MEMBER_TYPE, f"item {index} must be a non-negative integer, found {_short(seq)}"
        if index and seq <= value[index - 1]:
            return MEMBER_FORMAT, f"must be strictly increasing (item {index} is {seq})"
    return None


def _hashes_or_null(value):
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > 64:
        return MEMBER_TYPE, "must be an array of at most 64 hashes, or null"
    for index, item in enumerate(value):
        if not isinstance(item, str) or not HEX64.match(item):
            return MEMBER_FORMAT, f"item {index} must be 64 lowercase hex digits"
    return None


CHAIN_SPEC: dict[str, Check] = {
    "checkpoint_seqs": _checkpoint_seqs,
    "latest_checkpoint": integer(1),
    "frontier": _hashes_or_null,
    "consistency": _hashes_or_null,
}

MANIFEST_V2_SPEC: dict[str, Check] = {
    **MANIFEST_V1_SPEC,
    "format": constant("cavra.evidence.bundle/v2"),
    "chain": json_object,
}


def manifest_issues(manifest, files: tuple[str, ...], version: int) -> list[Issue]:
    """Every member of the manifest, nested objects included, checked for exact members, type and format."""
    issues = members(manifest, MANIFEST_V2_SPEC if version == 2 else MANIFEST_V1_SPEC)
    if not isinstance(manifest, dict):
        return issues
    if isinstance(manifest.get("counts"), dict):
        issues += members(manifest["counts"], COUNTS_SPEC, "counts.")
    selection = manifest.get("selection")
    if isinstance(selection, dict):
        issues += members(selection, SELECTION_SPEC, "selection.")
        if isinstance(selection.get("filter"), dict):
            issues += members(selection["filter"], FILTER_SPEC, "selection.filter.")
    if isinstance(manifest.get("files"), dict):
        issues += members(manifest["files"], dict.fromkeys(files, json_object), "files.")
        for name in files:
            if isinstance(manifest["files"].get(name), dict):
                issues += members(manifest["files"][name], FILE_ENTRY_SPEC, f"files.{name}.")
    if version == 2 and isinstance(manifest.get("chain"), dict):
        issues += members(manifest["chain"], CHAIN_SPEC, "chain.")
    return issues


def trust_root_issues(document) -> list[Issue]:
    issues = members(document, TRUST_ROOT_SPEC)
    if isinstance(document, dict) and isinstance(document.get("keys"), list):
        for index, entry in enumerate(document["keys"]):
            issues += members(entry, KEY_SPEC, f"keys[{index}].")
    return issues


class DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise DuplicateKey(key)
        seen[key] = value
    return seen


class BadNumber(CanonicalizationError):
    def __init__(self, text: str, message: str):
        super().__init__(message)
        self.text = text


def _raise_number(text):
    raise BadNumber(text, f"fractional or exponent number {text} is not allowed (integers only)")


def _checked_int(text):
    value = int(text)
    if abs(value) > MAX_SAFE_INTEGER:
        raise BadNumber(text, f"integer {text} is outside ±(2**53-1)")
    return value


def _raise_constant(text):
    raise CanonicalizationError(f"{text} is not a JSON number")


_STRICT = json.JSONDecoder(
    object_pairs_hook=_no_duplicates,
    parse_int=_checked_int,
    parse_float=_raise_number,
    parse_constant=_raise_constant,
)


def diagnose(raw: bytes) -> Issue | None:
    """Why these bytes are not one canonical JSON value (None when they are). Slow; for bad input only."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return JSON_SYNTAX, "$", f"not UTF-8 at byte {exc.start + 1}"
    try:
        value, end = _STRICT.raw_decode(text)
    except DuplicateKey as exc:
        return JSON_DUPLICATE_KEY, exc.key, f"member {exc.key!r} appears more than once in one object"
    except BadNumber as exc:
        return JSON_NUMBER, _key_before(raw, raw.find(b":" + exc.text.encode())), str(exc)
    except CanonicalizationError as exc:
        return JSON_NUMBER, "$", str(exc)
    except ValueError as exc:
        return JSON_SYNTAX, "$", f"not valid JSON ({exc})"
    if end != len(text):
        return JSON_SYNTAX, "$", f"unexpected data after the JSON value at column {end + 1}"
    path = _surrogate_path(value, "")
    if path is not None:
        return JSON_SURROGATE, path or "$", "string contains a lone surrogate (not valid Unicode)"
    try:
        canonical = canonicalize(value)
    except CanonicalizationError as exc:
        return JSON_NOT_CANONICAL, "$", str(exc)
    if canonical == raw:
        return None
    at = next(
        (i for i, (a, b) in enumerate(zip(raw, canonical, strict=False)) if a != b),
        min(len(raw), len(canonical)),
    )
    found = raw[max(0, at - 8) : at + 12].decode("utf-8", "replace")
    expected = canonical[max(0, at - 8) : at + 12].decode("utf-8", "replace")
    hint = " (an escape RFC 8785 does not produce)" if b"\\u" in raw[max(0, at - 6) : at + 6] else ""
    return (
        JSON_NOT_CANONICAL,
        _member_at(raw, at),
        f"not canonical JSON at byte {at + 1}{hint}: found {found!r}, canonical form has {expected!r}",
    )


def _surrogate_path(value, path: str) -> str | None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path
        return None
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _surrogate_path(item, f"{path}[{index}]")
            if found is not None:
                return found
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else key
            if _surrogate_path(key, child) is not None:
                return child.encode("utf-8", "backslashreplace").decode()
            found = _surrogate_path(item, child)
            if found is not None:
                return found.encode("utf-8", "backslashreplace").decode()
    return None


_TOP_MEMBER = re.compile(rb'[{,]"([a-z_]+)":')


_KEY_BEFORE = re.compile(rb'"((?:[^"\\]|\\.)*)"\Z')


def _key_before(raw: bytes, colon: int) -> str:
    """The member name whose value starts after the colon at `colon` (or "$" when there is none)."""
    if colon < 0:
        return "$"
    found = _KEY_BEFORE.search(raw, 0, colon)
    return found.group(1).decode("utf-8", "replace") if found else "$"


def _member_at(raw: bytes, at: int) -> str:
    """The top-level-looking member name closest before byte `at` (good enough to point a reader at it)."""
    name = "$"
    for match in _TOP_MEMBER.finditer(raw, 0, at + 1):
        name = match.group(1).decode()
    return name


def parse_canonical(raw: bytes):
    """(value, None) when raw is exactly one value's canonical JSON, else (value or None, issue)."""
    try:
        value = parse_line(raw)
    except (ValueError, UnicodeDecodeError):
        return None, diagnose(raw) or (JSON_SYNTAX, "$", "not valid JSON")
    try:
        canonical = canonicalize_trusted(value)
    except CanonicalizationError:
        return value, diagnose(raw) or (JSON_SURROGATE, "$", "not valid Unicode")
    if canonical != raw:
        return value, diagnose(raw) or (JSON_NOT_CANONICAL, "$", "not canonical JSON")
    return value, None
