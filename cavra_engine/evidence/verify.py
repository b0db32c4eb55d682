"""Offline verification of an evidence bundle: container, canonical form, exact members, signatures, chain.

Uses only the standard library and cryptography, so an auditor can run it without Django or a database.
docs/evidence-format.md is the specification this module implements; section 6 lists the steps in the
order they run here, section 8 the error codes.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from . import container, merkle, schema
from .bundle import (
    FILES,
    FORMATS,
    HASHED_FILES,
    RECORD_KEYS,
    checkpoint_message,
    fingerprint,
    key_id_for,
)
from .canonical import GENESIS_HASH, CanonicalizationError, canonicalize, canonicalize_trusted, parse_line

MAX_PROBLEMS = 25
HEX64 = schema.HEX64

# Error codes beyond the JSON/member ones in schema (docs/evidence-format.md section 8).
CONTAINER_LAYOUT = "container.layout"
CONTAINER_CRC = "container.crc"
FILE_NEWLINE = "file.newline"
FILE_DIGEST = "file.digest"
MANIFEST_FORMAT = "manifest.format"
MANIFEST_COUNTS = "manifest.counts"
TRUST_ROOT_TENANT = "trust_root.tenant"
TRUST_ROOT_KEY = "trust_root.key"
SIGNATURE_UNKNOWN_KEY = "signature.unknown_key"
SIGNATURE_KEY_NOT_VALID = "signature.key_not_valid"
SIGNATURE_INVALID = "signature.invalid"
CHECKPOINT_TENANT = "checkpoint.tenant"
CHECKPOINT_RANGE = "checkpoint.range"
CHECKPOINT_ORDER = "checkpoint.order"
CHECKPOINT_HEAD = "checkpoint.head_mismatch"
CHECKPOINT_END = "checkpoint.end_unsigned"
CHECKPOINT_MISSING = "checkpoint.missing"
CHECKPOINT_UNLISTED = "checkpoint.unlisted"
RECORD_HASH = "record.hash"
RECORD_SEQ = "record.seq"
RECORD_LINK = "record.link"
RECORD_TENANT = "record.tenant"
RECORD_END = "record.end"
RECORD_EMPTY = "record.empty"
RECORD_UNANCHORED = "record.unanchored"
SELECTION_MATCHED = "selection.matched"
SELECTION_SEQS = "selection.matched_seqs"
SELECTION_RANGE = "selection.range"
SELECTION_CUT = "selection.cut"
WITNESS_SIGNATURE = "witness.signature"
WITNESS_MISMATCH = "witness.mismatch"
MERKLE_FRONTIER = "merkle.frontier"
MERKLE_ROOT = "merkle.root_mismatch"
MERKLE_CONSISTENCY = "merkle.consistency"
INTERNAL = "bundle.unchecked"


@dataclass
class Problem:
    where: str  # file name inside the bundle, "--trust-root", or "bundle"
    message: str
    line: int | None = None
    seq: int | None = None
    code: str = ""
    member: str | None = None

    def __str__(self) -> str:
        place = self.where
        if self.line is not None:
            place += f" line {self.line}"
        if self.seq is not None:
            place += f" (seq {self.seq})"
        if self.member and not self.message.startswith(f"{self.member}:"):
            return f"{place}: {self.message} [{self.code}, member {self.member}]"
        return f"{place}: {self.message} [{self.code}]"

    def as_dict(self) -> dict:
        return {
            "where": self.where, "line": self.line, "seq": self.seq, "code": self.code,
            "member": self.member, "message": self.message,
        }  # fmt: skip


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(
        self, where: str, message: str, *, code: str, line: int | None = None, seq: int | None = None,
        member: str | None = None,
    ) -> None:  # fmt: skip
        self.problems.append(Problem(where, message, line, seq, code, member))

    def issues(self, where: str, issues, *, line: int | None = None, seq: int | None = None) -> bool:
        for code, member, message in issues:
            self.add(where, f"{member}: {message}", code=code, line=line, seq=seq, member=member)
        return bool(issues)

    @property
    def full(self) -> bool:
        return len(self.problems) >= MAX_PROBLEMS

    @property
    def codes(self) -> list[str]:
        return [p.code for p in self.problems]

    def as_dict(self) -> dict:
        return {"ok": self.ok, "summary": self.summary, "problems": [p.as_dict() for p in self.problems]}


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


def _parse_canonical(raw: bytes):
    """(value, None) when raw is exactly one value's canonical JSON, else (value or None, issue)."""
    try:
        value = parse_line(raw)
    except (ValueError, UnicodeDecodeError):
        return None, schema.diagnose(raw) or (schema.JSON_SYNTAX, "$", "not valid JSON")
    try:
        canonical = canonicalize_trusted(value)
    except CanonicalizationError:
        return value, schema.diagnose(raw) or (schema.JSON_SURROGATE, "$", "not valid Unicode")
    if canonical != raw:
        return value, schema.diagnose(raw) or (schema.JSON_NOT_CANONICAL, "$", "not canonical JSON")
    return value, None


def _json_member(data, name: str, report: Report):
    value, issue = _parse_canonical(bytes(data))
    if issue:
        report.issues(name, [issue])
    return value


COSIGNATURE_TYPE = "cavra.evidence.witness-cosignature/v1"


def cosignature_valid(tree_head: dict, cosignature: dict, witness_public_key: Ed25519PublicKey) -> bool:
    """A witness's countersignature over a tree head (docs/evidence-format.md section 11)."""
    if not isinstance(cosignature, dict) or cosignature.get("type") != COSIGNATURE_TYPE:
        return False
    body = {k: v for k, v in cosignature.items() if k != "signature"}
    try:
        message = canonicalize({"tree_head": tree_head, **body})
        witness_public_key.verify(bytes.fromhex(cosignature["signature"]), message)
    except (InvalidSignature, ValueError, TypeError, KeyError, CanonicalizationError):
        return False
    return True


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


def _verify_chain_commitments(chain, checkpoints, first_seq, last_seq, report: Report) -> None:
    """v2: the checkpoints the manifest commits to are all present, the start is anchored, the latest head too."""
    listed = chain.get("checkpoint_seqs")
    latest = chain.get("latest_checkpoint")
    if not isinstance(listed, list) or not schema._is_int(latest):
        return  # malformed: reported with the manifest
    present = set(checkpoints)
    for seq in listed:
        if seq not in present:
            report.add(
                "checkpoints.jsonl",
                f"the manifest commits to a checkpoint at seq {seq}, the bundle does not hold it "
                "(a checkpoint was removed)",
                code=CHECKPOINT_MISSING, seq=seq,
            )  # fmt: skip
    for seq in sorted(present - set(listed)):
        report.add(
            "checkpoints.jsonl", "checkpoint is not listed in the manifest's chain.checkpoint_seqs",
            code=CHECKPOINT_UNLISTED, seq=seq,
        )  # fmt: skip
    expected = [s for s in listed if first_seq - 1 <= s <= last_seq]
    if listed and (listed[-1] != latest or latest < last_seq or expected != listed[: len(expected)]):
        report.add(
            "manifest.json",
            "chain.checkpoint_seqs must list the checkpoints in first_seq-1..last_seq and then the latest "
            "checkpoint (chain.latest_checkpoint >= last_seq)",
            code=schema.MEMBER_FORMAT, member="chain",
        )  # fmt: skip
    if first_seq > 1 and first_seq - 1 not in checkpoints:
        report.add(
            "records.jsonl",
            f"the bundle starts at seq {first_seq} but holds no checkpoint at seq {first_seq - 1}: "
            "nothing proves what came before (unanchored start)",
            code=RECORD_UNANCHORED, line=1, seq=first_seq,
        )  # fmt: skip


def _witness_sizes(witnessed) -> set[int]:
    sizes = set()
    for entry, _key in witnessed:
        head = entry.get("tree_head") if isinstance(entry, dict) else None
        if isinstance(head, dict) and schema._is_int(head.get("seq")):
            sizes.add(head["seq"])
    return sizes


def _verify_witnessed(witnessed, tenant, roots: dict[int, str], report: Report) -> None:
    """Each witnessed head: a valid countersignature, and the root this bundle gives at its size."""
    for number, (entry, key) in enumerate(witnessed, start=1):
        where = f"--witness {number}"
        head = entry.get("tree_head") if isinstance(entry, dict) else None
        cosignature = entry.get("cosignature") if isinstance(entry, dict) else None
        if schema.members(head, schema.CHECKPOINT_V2_SPEC) or not cosignature_valid(head, cosignature, key):
            report.add(where, "not a tree head countersigned by this witness key", code=WITNESS_SIGNATURE)
            continue
        if head["tenant"] != tenant:
            continue  # another tenant's head says nothing about this bundle
        seq = head["seq"]
        if seq not in roots:
            report.summary.setdefault("witness_not_covered", []).append(seq)
            continue
        if roots[seq] != head["root_hash"]:
            report.add(
                where, f"the witness countersigned root {head['root_hash'][:16]}… at seq {seq}; this bundle's "
                f"records give {roots[seq][:16]}…: the history was rewritten after it was witnessed",
                code=WITNESS_MISMATCH, seq=seq,
            )  # fmt: skip


def _verify_merkle(
    chain, checkpoints, first_seq, last_seq, hashes: list[str], report: Report, extra_sizes=frozenset()
) -> dict[int, str]:
    """v2 with signed tree heads: rebuild the RFC 9162 tree from the anchor's frontier and the records,
    compare every head's root, and check the consistency proof from the bundle's end to the latest head.

    Returns the roots it established (every verified head's, and those at `extra_sizes` in range)."""
    heads = {seq: cp for seq, cp in checkpoints.items() if "root_hash" in cp}
    frontier_hex, consistency_hex = chain.get("frontier"), chain.get("consistency")
    roots: dict[int, str] = {}
    if not heads:
        return roots  # v1 checkpoints only (made before the tree existed): nothing to check against
    if frontier_hex is None or consistency_hex is None:
        report.add(
            "manifest.json", "the bundle holds signed tree heads but no Merkle frontier or consistency proof",
            code=MERKLE_FRONTIER, member="chain.frontier" if frontier_hex is None else "chain.consistency",
        )  # fmt: skip
        return roots
    try:
        tree = merkle.Frontier(first_seq - 1, [bytes.fromhex(h) for h in frontier_hex])
    except ValueError:
        report.add(
            "manifest.json", f"must hold one hash per set bit of {first_seq - 1} (the tree size before the bundle)",
            code=MERKLE_FRONTIER, member="chain.frontier",
        )  # fmt: skip
        return roots
    anchor = heads.get(first_seq - 1)
    if anchor is not None and tree.root().hex() != anchor["root_hash"]:
        report.add(
            "manifest.json", f"the frontier does not give the root signed at seq {first_seq - 1}: the records "
            "before the bundle are not the ones that head commits to", code=MERKLE_FRONTIER,
            member="chain.frontier",
        )  # fmt: skip
        return roots
    if anchor is not None:
        roots[first_seq - 1] = anchor["root_hash"]
    leaf_hash, fromhex = merkle.leaf_hash, bytes.fromhex
    for offset, digest in enumerate(hashes):
        tree.append(leaf_hash(fromhex(digest)))
        seq = first_seq + offset
        if seq in heads or seq in extra_sizes:
            roots[seq] = tree.root().hex()
            if seq in heads and roots[seq] != heads[seq]["root_hash"]:
                report.add(
                    "checkpoints.jsonl", "signed tree head's root_hash differs from the Merkle root of the records",
                    code=MERKLE_ROOT, seq=seq, member="root_hash",
                )  # fmt: skip
    latest = chain.get("latest_checkpoint")
    if latest in heads and latest > last_seq:
        proof = [bytes.fromhex(h) for h in consistency_hex]
        latest_root = heads[latest]["root_hash"]
        if merkle.verify_consistency(last_seq, latest, tree.root(), bytes.fromhex(latest_root), proof):
            roots[latest] = latest_root
        else:
            report.add(
                "manifest.json", f"does not prove that the latest head (seq {latest}) extends the tree at seq "
                f"{last_seq}", code=MERKLE_CONSISTENCY, member="chain.consistency",
            )  # fmt: skip
    elif consistency_hex:
        report.add(
            "manifest.json", "must be empty when the bundle ends at the latest head", code=MERKLE_CONSISTENCY,
            member="chain.consistency",
        )  # fmt: skip
    return roots


def _record_matches(record: dict, row_filter: dict) -> bool:
    """The export filter applied to one record, as the portal applies it (docs/evidence-format.md 5.4)."""
    payload = record.get("payload") if isinstance(record.get("payload"), dict) else {}
    created = record.get("created_at")
    seq = record.get("seq")
    for name, limit in (("session", 64), ("agent", 64), ("repository", 300)):
        wanted = row_filter.get(name)
        if wanted is not None:
            value = payload.get(name)
            if not isinstance(value, str) or value[:limit] != wanted:
                return False
    since, until = row_filter.get("since"), row_filter.get("until")
    if since is not None and not (isinstance(created, str) and created >= since):
        return False
    if until is not None and not (isinstance(created, str) and created < until):
        return False
    if row_filter.get("first_seq") is not None and not (
        schema._is_int(seq) and seq >= row_filter["first_seq"]
    ):
        return False
    if row_filter.get("last_seq") is not None and not (schema._is_int(seq) and seq <= row_filter["last_seq"]):
        return False
    return True


def _verify_selection(
    selection, row_filter, matched, first_seq, last_seq, checkpoints, version, latest, report
):
    """The manifest's selection agrees with the records: what matched, where the range starts and ends."""
    where = "manifest.json"
    narrow = any(row_filter.get(name) is not None for name in ("session", "agent", "repository"))
    if not matched:
        report.add(where, "no record in the bundle matches the selection's filter", code=SELECTION_MATCHED,
                   member="selection.filter")  # fmt: skip
        return
    if selection.get("matched") != len(matched):
        report.add(
            where, f"says {selection.get('matched')} records matched, {len(matched)} records in the bundle match "
            "the filter", code=SELECTION_MATCHED, member="selection.matched",
        )  # fmt: skip
    seqs = selection.get("matched_seqs")
    if narrow and seqs != matched[: schema.MATCHED_SEQS_LIMIT]:
        wrong = next((s for s, m in zip(seqs or [], matched, strict=False) if s != m), None)
        detail = f" (first disagreement at seq {wrong})" if wrong is not None else ""
        report.add(
            where, f"must list the seqs of the matching records{detail}", code=SELECTION_SEQS,
            member="selection.matched_seqs",
        )  # fmt: skip
    elif not narrow and seqs is not None:
        report.add(
            where, "must be null unless the filter names a session, agent or repository", code=SELECTION_SEQS,
            member="selection.matched_seqs",
        )  # fmt: skip
    before = [s for s in checkpoints if first_seq - 1 < s < matched[0]]
    if (version == 1 and matched[0] != first_seq) or (version == 2 and before):
        report.add(
            where, f"the bundle must start right after the last checkpoint before the first match "
            f"(seq {matched[0]}), not at seq {first_seq}", code=SELECTION_RANGE, member="first_seq",
        )  # fmt: skip
    after = [s for s in checkpoints if matched[-1] <= s < last_seq]
    if after:
        report.add(
            where, f"the bundle must end at the first checkpoint at or after the last match (seq {after[0]}), "
            f"not at seq {last_seq}", code=SELECTION_RANGE, member="last_seq",
        )  # fmt: skip
    open_ended = not narrow and row_filter.get("until") is None and row_filter.get("last_seq") is None
    if version == 2 and open_ended and latest is not None and latest != last_seq:
        report.add(
            where, f"the selection has no upper bound, so the bundle must run to the latest checkpoint (seq "
            f"{latest}), but it ends at seq {last_seq}: records after it are missing (cut bundle)",
            code=SELECTION_CUT, member="last_seq",
        )  # fmt: skip


_SHARED_LINES: list[bytes] = []
PARALLEL_THRESHOLD = 20_000
BODY_KEYS = RECORD_KEYS - {"hash"}
_SEQ_IN_LINE = re.compile(rb'"seq":([0-9]{1,16})[,}]')


def _guess_seq(line: bytes) -> int | None:
    """The top-level seq of a line that does not parse (the last "seq" member; payload sorts before it)."""
    found = _SEQ_IN_LINE.findall(line)
    return int(found[-1]) if found else None


def _walk_chunk(task) -> dict:
    """Check lines [lo, hi) of records.jsonl; links across chunk edges are checked by the caller.

    Per record: parse (integers within ±(2^53-1) only), re-serialise to RFC 8785 and require the same
    bytes, exact members with their types and patterns, SHA-256 of the canonical JSON without `hash`,
    tenant, seq continuity and prev_hash links; and whether it matches the export filter.
    """
    lo, hi, tenant, checkpoint_seqs, row_filter = task
    any_filter = row_filter is not None and any(v is not None for v in row_filter.values())
    lines = _SHARED_LINES
    where = "records.jsonl"
    problems: list[Problem] = []
    sha256 = hashlib.sha256
    spec = schema.RECORD_SPEC
    first_seq = first_prev = last_seq = last_hash = None
    at_checkpoints: dict[int, str] = {}
    matched: list[int] = []
    hashes: list = []
    previous_hash = previous_seq = None
    for index in range(lo, hi):
        line = lines[index]
        number = index + 1
        record, issue = _parse_canonical(line)
        if issue and record is None:
            guessed = _guess_seq(line)
            problems.append(Problem(where, f"{issue[1]}: {issue[2]}", number, guessed, issue[0], issue[1]))
            previous_hash, previous_seq = None, guessed
            last_seq = guessed  # so the end-of-chain check does not also report this line as missing
            if index == lo:
                first_seq = -1
            if len(problems) >= MAX_PROBLEMS:
                break
            continue
        if not isinstance(record, dict):
            problems.append(
                Problem(where, "a record must be a JSON object", number, None, schema.MEMBER_TYPE, "$")
            )
            previous_hash = previous_seq = None
            continue
        seq = record.get("seq") if schema._is_int(record.get("seq")) else None
        if issue:
            problems.append(Problem(where, f"{issue[1]}: {issue[2]}", number, seq, issue[0], issue[1]))
        well_formed = record.keys() == RECORD_KEYS and _types_ok(record)
        if not well_formed:
            for code, member, message in schema.members(record, spec):
                problems.append(Problem(where, f"{member}: {message}", number, seq, code, member))
        stored = record.get("hash")
        if well_formed and not issue:
            # The line is the canonical JSON of a record whose actor and created_at are strings or null,
            # so the first `,"hash":"` is the top-level member (a quote inside a string is escaped), and
            # the line without it is the canonical JSON of the record without `hash`.
            cut = line.find(b',"hash":"')
            computed = sha256(line[:cut] + line[cut + 74 :]).hexdigest()
        else:
            try:
                body = canonicalize_trusted({k: v for k, v in record.items() if k != "hash"})
                computed = sha256(body).hexdigest()
            except CanonicalizationError:
                computed = None  # a lone surrogate: already reported as json.surrogate
        if computed is not None and computed != stored:
            problems.append(Problem(
                where, f"hash mismatch: record content was changed (stored {str(stored)[:16]}…, computed "
                f"{computed[:16]}…)", number, seq, RECORD_HASH, "hash",
            ))  # fmt: skip
        if record.get("tenant") != tenant:
            problems.append(Problem(
                where, f"record belongs to tenant {record.get('tenant')!r}, not {tenant!r}", number, seq,
                RECORD_TENANT, "tenant",
            ))  # fmt: skip
        prev = record.get("prev_hash")
        if seq is not None and previous_seq is not None and seq != previous_seq + 1:
            problems.append(
                Problem(where, _seq_message(previous_seq + 1, seq), number, seq, RECORD_SEQ, "seq")
            )
        if previous_hash is not None and prev != previous_hash:
            problems.append(Problem(
                where, "broken link: prev_hash does not equal the hash of the previous record", number, seq,
                RECORD_LINK, "prev_hash",
            ))  # fmt: skip
        if index == lo:
            first_seq, first_prev = seq, prev
        if seq in checkpoint_seqs:
            at_checkpoints[seq] = stored
        if row_filter is not None and (not any_filter or _record_matches(record, row_filter)):
            matched.append(seq)
        hashes.append(stored)
        previous_hash, previous_seq = stored, seq
        last_seq, last_hash = seq, stored
        if len(problems) >= MAX_PROBLEMS:
            break
    return {
        "first_seq": first_seq, "first_prev": first_prev, "last_seq": last_seq, "last_hash": last_hash,
        "at_checkpoints": at_checkpoints, "problems": problems, "matched": matched, "hashes": hashes,
    }  # fmt: skip


_HEX64 = schema.HEX64.match
_TIMESTAMP = schema.TIMESTAMP.match
_RECORD_ID = schema.RECORD_ID.match
_KIND = schema.KIND.match
_ACTOR = schema.ACTOR.match
_TENANT = schema.TENANT.match


def _real_time(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _types_ok(r: dict) -> bool:
    """The common case of schema.RECORD_SPEC, inline; False sends the record through the full check."""
    seq, actor, subject = r["seq"], r["actor"], r["subject"]
    return (
        type(seq) is int and 1 <= seq <= schema.MAX_SAFE_INTEGER
        and type(r["id"]) is str and _RECORD_ID(r["id"]) is not None
        and type(r["tenant"]) is str and _TENANT(r["tenant"]) is not None
        and type(r["kind"]) is str and len(r["kind"]) <= 100 and _KIND(r["kind"]) is not None
        and type(subject) is str and len(subject) <= 300
        and type(r["payload"]) is dict
        and (actor is None or (type(actor) is str and len(actor) <= 300 and _ACTOR(actor) is not None))
        and type(r["created_at"]) is str and _TIMESTAMP(r["created_at"]) is not None
        and _real_time(r["created_at"])
        and type(r["prev_hash"]) is str and _HEX64(r["prev_hash"]) is not None
        and type(r["hash"]) is str and _HEX64(r["hash"]) is not None
    )  # fmt: skip


def _seq_message(expected, seq) -> str:
    if isinstance(seq, int) and seq > expected:
        missing = f"seq {expected}" if seq == expected + 1 else f"seqs {expected}..{seq - 1}"
        return f"{missing} missing (records removed or reordered)"
    return f"expected seq {expected}, found {seq!r} (records reordered, duplicated or inserted)"


def _run_chunks(tasks: list, workers: int) -> list:
    if workers <= 1 or len(tasks) == 1:
        return [_walk_chunk(task) for task in tasks]
    import multiprocessing

    try:
        context = multiprocessing.get_context("fork")  # children inherit the lines without copying them
    except ValueError:
        return [_walk_chunk(task) for task in tasks]
    with context.Pool(workers) as pool:
        return pool.map(_walk_chunk, tasks, chunksize=1)


def _verify_records(
    content, tenant, first_seq, last_seq, checkpoints: dict[int, dict], report: Report, workers=None,
    row_filter: dict | None = None,
) -> tuple[int, list[int] | None, list[str] | None]:  # fmt: skip
    """Walk records.jsonl; returns (number of lines, seqs matching the filter, record hashes), the last two
    None when the records have problems (checks built on them would only repeat what is wrong)."""
    global _SHARED_LINES
    import os

    where = "records.jsonl"
    lines = bytes(content).split(b"\n")
    if lines[-1] != b"":
        report.add(
            where, "file must end with a newline (bytes were removed or added at the end)", code=FILE_NEWLINE
        )
    lines.pop()
    if not lines:
        report.add(where, "bundle holds no records", code=RECORD_EMPTY)
        return 0, None, None
    workers = workers or (os.cpu_count() or 1)
    if len(lines) < PARALLEL_THRESHOLD:
        workers = 1
    size = -(-len(lines) // (workers * 4 if workers > 1 else 1))
    seqs = frozenset(checkpoints) | {first_seq - 1}
    tasks = [(lo, min(lo + size, len(lines)), tenant, seqs, row_filter) for lo in range(0, len(lines), size)]
    _SHARED_LINES = lines
    try:
        results = _run_chunks(tasks, workers)
    finally:
        _SHARED_LINES = []

    anchor = checkpoints.get(first_seq - 1)
    previous_hash = GENESIS_HASH if first_seq == 1 else (anchor["head_hash"] if anchor else None)
    previous_seq = first_seq - 1
    matched: list[int] | None = []
    hashes: list[str] | None = []
    for (lo, *_rest), result in zip(tasks, results, strict=True):
        seq, prev = result["first_seq"], result["first_prev"]
        if seq is not None and seq != -1:
            if previous_seq is not None and seq != previous_seq + 1:
                report.add(where, _seq_message(previous_seq + 1, seq), code=RECORD_SEQ, line=lo + 1, seq=seq,
                           member="seq")  # fmt: skip
            if previous_hash is not None and prev != previous_hash:
                what = (
                    "the checkpoint before the bundle"
                    if lo == 0 and first_seq != 1
                    else ("the genesis value (64 zeros)" if lo == 0 else "the previous record")
                )
                report.add(where, f"broken link: prev_hash does not equal the hash of {what}", code=RECORD_LINK,
                           line=lo + 1, seq=seq, member="prev_hash")  # fmt: skip
        report.problems.extend(result["problems"])
        if result["problems"]:
            matched = hashes = None  # the selection checks would only repeat what is already wrong
        elif matched is not None:
            matched.extend(result["matched"])
            hashes.extend(result["hashes"])
        for cp_seq, stored in result["at_checkpoints"].items():
            head = checkpoints[cp_seq]["head_hash"] if cp_seq in checkpoints else stored
            if head != stored:
                report.add(
                    where, f"signed checkpoint at seq {cp_seq} names head hash {head[:16]}…, the record has "
                    f"{str(stored)[:16]}…", code=CHECKPOINT_HEAD, seq=cp_seq, member="hash",
                )  # fmt: skip
        previous_seq = result["last_seq"] if isinstance(result["last_seq"], int) else None
        previous_hash = result["last_hash"]
        if report.full:
            return len(lines), None, None
    if previous_seq != last_seq:
        report.add(
            where, f"records end at seq {previous_seq}, the manifest says {last_seq} (records removed or added at "
            "the end)", code=RECORD_END,
        )  # fmt: skip
    return len(lines), matched, hashes


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
