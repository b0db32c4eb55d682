"""Offline verification of an evidence bundle: container, canonical form, exact members, signatures, chain.

Uses only the standard library and cryptography, so an auditor can run it without Django or a database.
docs/evidence-format.md is the specification this module implements; section 6 lists the steps in the
order they run here, section 8 the error codes.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from . import container, schema
from .bundle import (
    FILES,
    FORMATS,
    HASHED_FILES,
    checkpoint_message,
    fingerprint,
    key_id_for,
)
from .chain_walk import _verify_records
from .commitments import (  # noqa: F401 - cosignature_valid and COSIGNATURE_TYPE are part of the API
    COSIGNATURE_TYPE,
    _verify_chain_commitments,
    _verify_merkle,
    _verify_selection,
    _verify_witnessed,
    _witness_sizes,
    cosignature_valid,
)
from .report import (  # noqa: F401 - codes and the report are part of this module's API
    CHECKPOINT_END,
    CHECKPOINT_ORDER,
    CHECKPOINT_RANGE,
    CHECKPOINT_TENANT,
    CONTAINER_CRC,
    CONTAINER_LAYOUT,
    FILE_DIGEST,
    FILE_NEWLINE,
    INTERNAL,
    MANIFEST_COUNTS,
    MANIFEST_FORMAT,
    MAX_PROBLEMS,
    SIGNATURE_INVALID,
    SIGNATURE_KEY_NOT_VALID,
    SIGNATURE_UNKNOWN_KEY,
    TRUST_ROOT_KEY,
    TRUST_ROOT_TENANT,
    Problem,
    Report,
)

_parse_canonical = schema.parse_canonical


@dataclass(frozen=True)
class TrustedKey:
    key_id: str
    public_key: Ed25519PublicKey
    valid_from: datetime
    valid_until: datetime | None

    def valid_at(self, when: datetime) -> bool:
        return self.valid_from <= when and (self.valid_until is None or when < self.valid_until)


def parse_time(value) -> datetime | None:
    if not isinstance(value, str) or not schema.TIMESTAMP.match(value):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def load_trust_root(document, where: str, report: Report) -> tuple[str | None, dict[str, TrustedKey]]:
    """Check a trust-root document (exact members, key consistency) and return (tenant, keys by id)."""
    if report.issues(where, schema.trust_root_issues(document)) and not isinstance(document, dict):
        return None, {}
    keys: dict[str, TrustedKey] = {}
    entries = document.get("keys") if isinstance(document.get("keys"), list) else []
    for index, entry in enumerate(entries):
        label = f"keys[{index}]"
        if not isinstance(entry, dict) or _fatal(schema.members(entry, schema.KEY_SPEC)):
            continue  # already reported by trust_root_issues; an extra member alone does not hide the key
        raw = bytes.fromhex(entry["public_key"])
        try:
            public_key = Ed25519PublicKey.from_public_bytes(raw)
        except ValueError:
            report.add(
                where, "is not an Ed25519 public key", code=TRUST_ROOT_KEY, member=f"{label}.public_key"
            )
            continue
        if entry["fingerprint"] != fingerprint(raw):
            report.add(
                where, "does not match the public key", code=TRUST_ROOT_KEY, member=f"{label}.fingerprint"
            )
        if entry["key_id"] != key_id_for(raw):
            report.add(where, "does not match the public key", code=TRUST_ROOT_KEY, member=f"{label}.key_id")
        valid_from = parse_time(entry["valid_from"])
        valid_until = parse_time(entry["valid_until"]) if entry["valid_until"] is not None else None
        if valid_until is not None and valid_until <= valid_from:
            report.add(
                where, "must be after valid_from", code=schema.MEMBER_FORMAT, member=f"{label}.valid_until"
            )
        keys[key_id_for(raw)] = TrustedKey(key_id_for(raw), public_key, valid_from, valid_until)
    tenant = document.get("tenant")
    return (tenant if isinstance(tenant, str) else None), keys


def _fatal(issues) -> bool:
    """Issues that stop further checks of a document (an extra member alone does not)."""
    return any(code != schema.MEMBER_EXTRA for code, _member, _message in issues)


def _check_signature(keys: dict[str, TrustedKey], key_id, when, signature, message: bytes):
    """None when valid, else (code, reason in plain words)."""
    key = keys.get(key_id)
    if key is None:
        return SIGNATURE_UNKNOWN_KEY, f"signed by key {key_id!r}, which is not in the trust root"
    moment = parse_time(when)
    if moment is None:
        return schema.MEMBER_FORMAT, "created_at is not a UTC time"
    if not key.valid_at(moment):
        return SIGNATURE_KEY_NOT_VALID, f"key {key_id} was not valid at {when}"
    if not isinstance(signature, str) or not schema.HEX128.match(signature):
        return schema.MEMBER_FORMAT, "signature is not 64 bytes of lowercase hex"
    try:
        key.public_key.verify(bytes.fromhex(signature), message)
    except InvalidSignature:
        return SIGNATURE_INVALID, f"signature does not verify with key {key_id}"
    return None


def _json_member(data, name: str, report: Report):
    value, issue = _parse_canonical(bytes(data))
    if issue:
        report.issues(name, [issue])
    return value


def verify_bundle(
    data: bytes, trust_root: dict | None = None, *, workers: int | None = None,
    witnessed: list[tuple[dict, Ed25519PublicKey]] | None = None,
) -> Report:  # fmt: skip
    """Verify a bundle's bytes; never raises for bad input: every failure becomes a Problem.

    workers: processes for the record walk (default: all CPUs for large bundles; 1 inside a web worker).
    witnessed: (entry, witness public key) pairs, entry = {"tree_head", "cosignature"} as a witness serves
    it; each witnessed head the bundle covers must have the root the bundle's records give.
    """
    try:
        return _verify_bundle(data, trust_root, workers, witnessed or [])
    except Exception as exc:  # fail closed on anything the specific checks did not anticipate
        report = Report()
        report.add(
            "bundle", f"malformed bundle, could not be checked ({type(exc).__name__}: {exc})", code=INTERNAL
        )
        return report


def _verify_bundle(data: bytes, trust_root: dict | None, workers: int | None = None, witnessed=()) -> Report:
    report = Report()
    try:
        members = container.read(data, FILES)
    except container.ContainerError as exc:
        report.add("bundle", str(exc), code=CONTAINER_LAYOUT)
        return report
    body = {name: bytes(container.content(data, member)) for name, member in members.items()}
    for name, member in members.items():
        if zlib.crc32(body[name]) != member.crc:
            report.add(name, "CRC-32 in the ZIP headers does not match the content", code=CONTAINER_CRC)

    signature_doc = _json_member(body["manifest.sig"], "manifest.sig", report)
    manifest = _json_member(body["manifest.json"], "manifest.json", report)
    embedded_root = _json_member(body["trust-root.json"], "trust-root.json", report)
    version = FORMATS.get(manifest.get("format")) if isinstance(manifest, dict) else None
    if version is None:
        report.add(
            "manifest.json", f"not a bundle manifest (format must be one of {', '.join(sorted(FORMATS))})",
            code=MANIFEST_FORMAT, member="format",
        )  # fmt: skip
        return report
    report.issues("manifest.json", schema.manifest_issues(manifest, HASHED_FILES, version))
    tenant = manifest.get("tenant")
    first_seq, last_seq = manifest.get("first_seq"), manifest.get("last_seq")
    if not (schema._is_int(first_seq) and schema._is_int(last_seq) and 1 <= first_seq <= last_seq):
        report.add(
            "manifest.json", "first_seq/last_seq must be integers with 1 <= first_seq <= last_seq",
            code=schema.MEMBER_FORMAT, member="last_seq",
        )  # fmt: skip
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
            code=TRUST_ROOT_TENANT, member="tenant",
        )  # fmt: skip

    if not report.issues("manifest.sig", schema.members(signature_doc, schema.MANIFEST_SIG_SPEC)):
        found = _check_signature(
            keys, signature_doc["key_id"], manifest.get("created_at"), signature_doc["signature"],
            body["manifest.json"],
        )  # fmt: skip
        if found:
            report.add("manifest.sig", f"manifest {found[1]}", code=found[0], member="signature")

    listed = manifest.get("files") if isinstance(manifest.get("files"), dict) else {}
    for name in HASHED_FILES:
        expected = listed.get(name) if isinstance(listed.get(name), dict) else {}
        content = body[name]
        if (
            expected.get("bytes") != len(content)
            or expected.get("sha256") != hashlib.sha256(content).hexdigest()
        ):
            report.add(
                name,
                "SHA-256 or size differs from manifest.json (file content was changed)",
                code=FILE_DIGEST,
            )

    chain = manifest.get("chain") if version == 2 and isinstance(manifest.get("chain"), dict) else {}
    latest = chain.get("latest_checkpoint") if schema._is_int(chain.get("latest_checkpoint")) else None
    checkpoints = _verify_checkpoints(
        body["checkpoints.jsonl"], tenant, keys, first_seq, last_seq, latest, report
    )
    selection = manifest.get("selection") if isinstance(manifest.get("selection"), dict) else {}
    row_filter = selection.get("filter") if isinstance(selection.get("filter"), dict) else {}
    if schema.members(row_filter, schema.FILTER_SPEC):
        row_filter = None  # reported with the manifest; no selection checks on a malformed filter
    walked, matched, hashes = _verify_records(
        body["records.jsonl"],
        tenant,
        first_seq,
        last_seq,
        checkpoints,
        report,
        workers=workers,
        row_filter=row_filter,
    )

    counts = manifest.get("counts") if isinstance(manifest.get("counts"), dict) else {}
    if counts.get("records") != walked:
        report.add(
            "manifest.json", f"manifest counts {counts.get('records')} records, the bundle holds {walked}",
            code=MANIFEST_COUNTS, member="counts.records",
        )  # fmt: skip
    if counts.get("checkpoints") != len(checkpoints):
        report.add(
            "manifest.json",
            f"manifest counts {counts.get('checkpoints')} checkpoints, the bundle holds {len(checkpoints)}",
            code=MANIFEST_COUNTS, member="counts.checkpoints",
        )  # fmt: skip
    if row_filter is not None and matched is not None:
        _verify_selection(
            selection, row_filter, matched, first_seq, last_seq, checkpoints, version, latest, report
        )
    if version == 2:
        _verify_chain_commitments(chain, checkpoints, first_seq, last_seq, report)
        if hashes is not None and len(hashes) == last_seq - first_seq + 1:
            roots = _verify_merkle(
                chain, checkpoints, first_seq, last_seq, hashes, report, _witness_sizes(witnessed)
            )
            _verify_witnessed(witnessed, tenant, roots, report)

    report.problems.sort(key=lambda p: (FILES.index(p.where) if p.where in FILES else -1, p.line or 0))
    report.summary = {
        **report.summary,
        "format": manifest.get("format"),
        "tenant": tenant,
        "first_seq": first_seq,
        "last_seq": last_seq,
        "records": walked,
        "checkpoints": len(checkpoints),
        "head_hash": checkpoints.get(last_seq, {}).get("head_hash"),
        "latest_checkpoint": latest,
        "bundle_created_at": manifest.get("created_at"),
        "selection": manifest.get("selection"),
        "signing_keys": sorted(keys),
        "trust_root": source,
    }
    if version == 1:
        report.summary["note"] = (
            "v1 bundle: the manifest does not commit to the checkpoint list or the latest head, so a missing "
            "middle checkpoint, a cut at an earlier checkpoint or an unanchored start cannot be detected"
        )
    return report


def _verify_checkpoints(
    content, tenant, keys, first_seq, last_seq, latest, report: Report
) -> dict[int, dict]:
    """Check every checkpoint line (canonical, exact members, range, order, signature); return them by seq."""
    where = "checkpoints.jsonl"
    lines = content.split(b"\n")
    if lines[-1] != b"":
        report.add(where, "file must end with a newline", code=FILE_NEWLINE)
    by_seq: dict[int, dict] = {}
    previous: dict | None = None
    for number, line in enumerate(lines[:-1], start=1):
        cp, issue = _parse_canonical(line)
        seq = cp.get("seq") if isinstance(cp, dict) and schema._is_int(cp.get("seq")) else None
        if issue:
            report.issues(where, [issue], line=number, seq=seq)
            if cp is None:
                continue
        cp_issues = schema.members(cp, schema.checkpoint_spec(cp))
        report.issues(where, cp_issues, line=number, seq=seq)
        if _fatal(cp_issues) or seq is None:
            continue
        if cp["tenant"] != tenant:
            report.add(
                where, f"checkpoint is for tenant {cp['tenant']!r}, not {tenant!r}",
                code=CHECKPOINT_TENANT, line=number, seq=seq, member="tenant",
            )  # fmt: skip
        if not (first_seq - 1 <= seq <= last_seq or seq == latest):
            report.add(
                where, f"checkpoint seq {seq} is outside the bundle's range {first_seq - 1}..{last_seq}",
                code=CHECKPOINT_RANGE, line=number, seq=seq, member="seq",
            )  # fmt: skip
            continue
        found = _check_signature(
            keys, cp["key_id"], cp["created_at"], cp["signature"], checkpoint_message(cp)
        )
        if found:
            report.add(
                where, f"checkpoint {found[1]}", code=found[0], line=number, seq=seq, member="signature"
            )
        if previous is not None:
            if seq <= previous["seq"]:
                report.add(
                    where, "checkpoints are not in increasing seq order (reordered, duplicated or inserted)",
                    code=CHECKPOINT_ORDER, line=number, seq=seq, member="seq",
                )  # fmt: skip
            elif cp["created_at"] < previous["created_at"]:
                report.add(
                    where, "checkpoint is older than the one before it",
                    code=CHECKPOINT_ORDER, line=number, seq=seq, member="created_at",
                )  # fmt: skip
        previous = cp
        by_seq[seq] = cp
    if last_seq not in by_seq:
        report.add(
            where, f"no checkpoint signs the last record (seq {last_seq}); the end of the chain is not anchored",
            code=CHECKPOINT_END,
        )  # fmt: skip
    return by_seq


def verify_file(path: str | Path, trust_root_path: str | Path | None = None, *, witnessed=()) -> Report:
    data = Path(path).read_bytes()
    trust_root = None
    if trust_root_path is not None:
        try:
            raw = Path(trust_root_path).read_bytes()
        except OSError as exc:
            report = Report()
            report.add(
                "--trust-root", f"cannot read trust root: {exc.strerror or exc}", code=CONTAINER_LAYOUT
            )
            return report
        trust_root, issue = _parse_canonical(raw.rstrip(b"\n"))
        if trust_root is None:
            report = Report()
            report.add("--trust-root", f"cannot read trust root: {issue[2]}", code=issue[0], member=issue[1])
            return report
        if issue and issue[0] in (schema.JSON_DUPLICATE_KEY, schema.JSON_SURROGATE):
            report = Report()
            report.issues("--trust-root", [issue])
            return report
    return verify_bundle(data, trust_root, witnessed=list(witnessed))


def dumps_report(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=2, sort_keys=True)
