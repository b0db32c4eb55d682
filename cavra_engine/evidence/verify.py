"""Offline verification of an evidence bundle: container, manifest signature, file hashes, chain, checkpoints.

Uses only the standard library and cryptography, so an auditor can run it without Django or a database.
docs/evidence-format.md is the specification this module implements.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from . import container
from .bundle import (
    CHECKPOINT_KEYS,
    CHECKPOINT_TYPE,
    FILES,
    FORMAT,
    HASHED_FILES,
    MANIFEST_SIG_TYPE,
    TRUST_ROOT_TYPE,
    checkpoint_message,
    fingerprint,
    key_id_for,
)
from .canonical import CanonicalizationError, canonicalize, parse_line
from .chain_walk import HEX64, _verify_records
from .report import MAX_PROBLEMS, Problem, Report  # noqa: F401 - part of this module's API

HEX128 = re.compile(r"[0-9a-f]{128}\Z")


@dataclass(frozen=True)
class TrustedKey:
    key_id: str
    public_key: Ed25519PublicKey
    valid_from: datetime
    valid_until: datetime | None

    def valid_at(self, when: datetime) -> bool:
        return self.valid_from <= when and (self.valid_until is None or when < self.valid_until)


def parse_time(value) -> datetime | None:
    if not isinstance(value, str) or not value.endswith("Z"):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def load_trust_root(document, where: str, report: Report) -> tuple[str | None, dict[str, TrustedKey]]:
    """Check a trust-root document and return (tenant, keys by id). Problems go into the report."""
    if not isinstance(document, dict) or document.get("type") != TRUST_ROOT_TYPE:
        report.add(where, f"not a trust root (type must be {TRUST_ROOT_TYPE!r})")
        return None, {}
    keys: dict[str, TrustedKey] = {}
    entries = document.get("keys")
    if not isinstance(entries, list) or not entries:
        report.add(where, "trust root lists no keys")
        return document.get("tenant"), {}
    for index, entry in enumerate(entries):
        label = f"key {index + 1}"
        try:
            raw = bytes.fromhex(entry["public_key"])
            public_key = Ed25519PublicKey.from_public_bytes(raw)
        except (KeyError, TypeError, ValueError):
            report.add(where, f"{label}: public_key is not a 32-byte Ed25519 key in hex")
            continue
        if entry.get("algorithm") != "Ed25519":
            report.add(where, f"{label}: algorithm must be Ed25519")
        if entry.get("fingerprint") != fingerprint(raw):
            report.add(where, f"{label}: fingerprint does not match the public key")
        if entry.get("key_id") != key_id_for(raw):
            report.add(where, f"{label}: key_id does not match the public key")
        valid_from = parse_time(entry.get("valid_from"))
        valid_until = parse_time(entry.get("valid_until")) if entry.get("valid_until") is not None else None
        if valid_from is None or (entry.get("valid_until") is not None and valid_until is None):
            report.add(
                where, f"{label}: valid_from/valid_until must be UTC times like 2026-01-01T00:00:00.000000Z"
            )
            continue
        keys[key_id_for(raw)] = TrustedKey(key_id_for(raw), public_key, valid_from, valid_until)
    return document.get("tenant"), keys


def _check_signature(keys: dict[str, TrustedKey], key_id, when, signature, message: bytes) -> str | None:
    """None when valid, else the reason in plain words."""
    key = keys.get(key_id)
    if key is None:
        return f"signed by key {key_id!r}, which is not in the trust root"
    moment = parse_time(when)
    if moment is None:
        return "created_at is not a UTC time"
    if not key.valid_at(moment):
        return f"key {key_id} was not valid at {when}"
    if not isinstance(signature, str) or not HEX128.match(signature):
        return "signature is not 64 bytes of lowercase hex"
    try:
        key.public_key.verify(bytes.fromhex(signature), message)
    except InvalidSignature:
        return f"signature does not verify with key {key_id}"
    return None


def _json_member(data, name: str, report: Report):
    """Parse a single-document member and insist on canonical bytes (so no byte can change unnoticed)."""
    raw = bytes(data)
    try:
        document = parse_line(raw)
    except (ValueError, CanonicalizationError, UnicodeDecodeError) as exc:
        report.add(name, f"not valid JSON ({exc})")
        return None
    try:
        if canonicalize(document) != raw:
            report.add(name, "not in canonical JSON form (bytes were changed)")
    except CanonicalizationError as exc:
        report.add(name, f"not canonical JSON ({exc})")
    return document


def verify_bundle(data: bytes, trust_root: dict | None = None) -> Report:
    """Verify a bundle's bytes; never raises for bad input: every failure becomes a Problem."""
    try:
        return _verify_bundle(data, trust_root)
    except Exception as exc:  # fail closed on anything the specific checks did not anticipate
        report = Report()
        report.add("bundle", f"malformed bundle, could not be checked ({type(exc).__name__}: {exc})")
        return report


def _verify_bundle(data: bytes, trust_root: dict | None) -> Report:
    report = Report()
    try:
        members = container.read(data, FILES)
    except container.ContainerError as exc:
        report.add("bundle", str(exc))
        return report
    body = {name: container.content(data, member) for name, member in members.items()}

    signature_doc = _json_member(body["manifest.sig"], "manifest.sig", report)
    manifest = _json_member(body["manifest.json"], "manifest.json", report)
    embedded_root = _json_member(body["trust-root.json"], "trust-root.json", report)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        report.add("manifest.json", f"not a bundle manifest (format must be {FORMAT!r})")
        return report
    tenant = manifest.get("tenant")
    first_seq, last_seq = manifest.get("first_seq"), manifest.get("last_seq")
    if not (isinstance(first_seq, int) and isinstance(last_seq, int) and 1 <= first_seq <= last_seq):
        report.add("manifest.json", "first_seq/last_seq must be integers with 1 <= first_seq <= last_seq")
        return report

    root_tenant, keys = load_trust_root(embedded_root, "trust-root.json", report)
    source = "embedded trust-root.json (proves integrity; pass --trust-root to also prove origin)"
    if trust_root is not None:
        root_tenant, keys = load_trust_root(trust_root, "--trust-root", report)
        source = "external trust root"
    if root_tenant != tenant:
        report.add(
            "trust-root.json" if trust_root is None else "--trust-root",
            f"trust root is for tenant {root_tenant!r}, the bundle for {tenant!r}",
        )

    if isinstance(signature_doc, dict):
        if signature_doc.get("type") != MANIFEST_SIG_TYPE or signature_doc.get("algorithm") != "Ed25519":
            report.add("manifest.sig", f"type must be {MANIFEST_SIG_TYPE!r} with algorithm Ed25519")
        reason = _check_signature(
            keys,
            signature_doc.get("key_id"),
            manifest.get("created_at"),
            signature_doc.get("signature"),
            bytes(body["manifest.json"]),
        )
        if reason:
            report.add("manifest.sig", f"manifest {reason}")

    listed = manifest.get("files") if isinstance(manifest.get("files"), dict) else {}
    if set(listed) != set(HASHED_FILES):
        report.add("manifest.json", f"files must list exactly {', '.join(HASHED_FILES)}")

    checkpoints = _verify_checkpoints(body["checkpoints.jsonl"], tenant, keys, first_seq, last_seq, report)
    walked = _verify_records(body["records.jsonl"], tenant, first_seq, last_seq, checkpoints, report)

    counts = manifest.get("counts") if isinstance(manifest.get("counts"), dict) else {}
    if counts.get("records") != walked:
        report.add(
            "manifest.json", f"manifest counts {counts.get('records')} records, the bundle holds {walked}"
        )
    if counts.get("checkpoints") != len(checkpoints):
        report.add(
            "manifest.json",
            f"manifest counts {counts.get('checkpoints')} checkpoints, the bundle holds {len(checkpoints)}",
        )

    for name in HASHED_FILES:
        expected = listed.get(name) if isinstance(listed.get(name), dict) else {}
        content = body[name]
        if (
            expected.get("bytes") != len(content)
            or expected.get("sha256") != hashlib.sha256(content).hexdigest()
        ):
            report.add(name, "SHA-256 or size differs from manifest.json (file content was changed)")
    for name, member in members.items():
        if zlib.crc32(body[name]) != member.crc:
            report.add(name, "CRC-32 in the ZIP headers does not match the content")

    report.summary = {
        "tenant": tenant,
        "first_seq": first_seq,
        "last_seq": last_seq,
        "records": walked,
        "checkpoints": len(checkpoints),
        "head_hash": checkpoints.get(last_seq, {}).get("head_hash"),
        "bundle_created_at": manifest.get("created_at"),
        "selection": manifest.get("selection"),
        "signing_keys": sorted(keys),
        "trust_root": source,
    }
    return report


def _verify_checkpoints(content, tenant, keys, first_seq, last_seq, report: Report) -> dict[int, dict]:
    """Verify every checkpoint's signature; return them by seq."""
    where = "checkpoints.jsonl"
    raw = bytes(content)
    lines = raw.split(b"\n")
    if lines[-1] != b"":
        report.add(where, "file must end with a newline")
    by_seq: dict[int, dict] = {}
    previous: dict | None = None
    for number, line in enumerate(lines[:-1], start=1):
        try:
            cp = parse_line(line)
        except (ValueError, CanonicalizationError, UnicodeDecodeError) as exc:
            report.add(where, f"not valid JSON ({exc})", line=number)
            continue
        if not isinstance(cp, dict) or set(cp) != CHECKPOINT_KEYS or cp.get("type") != CHECKPOINT_TYPE:
            report.add(
                where, f"not a checkpoint (needs exactly {', '.join(sorted(CHECKPOINT_KEYS))})", line=number
            )
            continue
        seq = cp["seq"]
        if canonicalize(cp) != line:
            report.add(
                where, "checkpoint line is not canonical JSON (bytes were changed)", line=number, seq=seq
            )
        if cp["tenant"] != tenant:
            report.add(
                where, f"checkpoint is for tenant {cp['tenant']!r}, not {tenant!r}", line=number, seq=seq
            )
        if not isinstance(seq, int) or not (first_seq - 1 <= seq <= last_seq):
            report.add(
                where,
                f"checkpoint seq {seq!r} is outside the bundle's range {first_seq - 1}..{last_seq}",
                line=number,
            )
            continue
        if not isinstance(cp["head_hash"], str) or not HEX64.match(cp["head_hash"]):
            report.add(where, "head_hash is not 64 lowercase hex digits", line=number, seq=seq)
        reason = _check_signature(
            keys, cp["key_id"], cp["created_at"], cp["signature"], checkpoint_message(cp)
        )
        if reason:
            report.add(where, f"checkpoint {reason}", line=number, seq=seq)
        if previous is not None:
            if seq <= previous["seq"]:
                report.add(
                    where,
                    "checkpoints are not in increasing seq order (reordered, duplicated or inserted)",
                    line=number,
                    seq=seq,
                )
            elif cp["created_at"] < previous["created_at"]:
                report.add(where, "checkpoint is older than the one before it", line=number, seq=seq)
        previous = cp
        by_seq[seq] = cp
    if last_seq not in by_seq:
        report.add(
            where,
            f"no checkpoint signs the last record (seq {last_seq}); the end of the chain is not anchored",
        )
    return by_seq


def verify_file(path: str | Path, trust_root_path: str | Path | None = None) -> Report:
    data = Path(path).read_bytes()
    trust_root = None
    if trust_root_path is not None:
        try:
            trust_root = json.loads(Path(trust_root_path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            report = Report()
            report.add("--trust-root", f"cannot read trust root: {exc}")
            return report
    return verify_bundle(data, trust_root)
