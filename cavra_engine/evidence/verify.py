"""Offline verification of an evidence bundle: container, manifest signature, file hashes, chain, checkpoints.

Uses only the standard library and cryptography, so an auditor can run it without Django or a database.
docs/evidence-format.md is the specification this module implements.
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

from . import container
from .bundle import (
    CHECKPOINT_KEYS,
    CHECKPOINT_TYPE,
    FILES,
    FORMAT,
    HASHED_FILES,
    MANIFEST_SIG_TYPE,
    RECORD_KEYS,
    TRUST_ROOT_TYPE,
    checkpoint_message,
    fingerprint,
    key_id_for,
)
from .canonical import GENESIS_HASH, CanonicalizationError, canonicalize, canonicalize_trusted, parse_line

HEX64 = re.compile(r"[0-9a-f]{64}\Z")
HEX128 = re.compile(r"[0-9a-f]{128}\Z")
MAX_PROBLEMS = 25


@dataclass
class Problem:
    where: str  # file name inside the bundle, or "bundle"
    message: str
    line: int | None = None
    seq: int | None = None

    def __str__(self) -> str:
        place = self.where
        if self.line is not None:
            place += f" line {self.line}"
        if self.seq is not None:
            place += f" (seq {self.seq})"
        return f"{place}: {self.message}"

    def as_dict(self) -> dict:
        return {"where": self.where, "line": self.line, "seq": self.seq, "message": self.message}


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, where: str, message: str, *, line: int | None = None, seq: int | None = None) -> None:
        self.problems.append(Problem(where, message, line, seq))

    @property
    def full(self) -> bool:
        return len(self.problems) >= MAX_PROBLEMS

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


_SHARED_LINES: list[bytes] = []
PARALLEL_THRESHOLD = 20_000
BODY_KEYS = RECORD_KEYS - {"hash"}


def _walk_chunk(task: tuple[int, int, str, frozenset[int]]) -> dict:
    """Check lines [lo, hi) of records.jsonl independently; links across chunk edges are checked by the caller.

    Per record: parse, recompute the canonical JSON without `hash`, SHA-256 it, compare; check the line
    itself is canonical; check seq continuity and prev_hash links inside the chunk.
    """
    lo, hi, tenant, checkpoint_seqs = task
    lines = _SHARED_LINES
    where = "records.jsonl"
    problems: list[Problem] = []
    sha256 = hashlib.sha256
    decode = parse_line
    first_seq = first_prev = last_seq = last_hash = None
    at_checkpoints: dict[int, str] = {}
    previous_hash = None
    previous_seq = None
    for index in range(lo, hi):
        line = lines[index]
        number = index + 1
        try:
            record = decode(line)
            stored = record.pop("hash")
            body = canonicalize_trusted(record)
        except (
            ValueError,
            CanonicalizationError,
            UnicodeDecodeError,
            KeyError,
            AttributeError,
            TypeError,
        ) as exc:
            problems.append(Problem(where, f"not a valid record ({exc})", number))
            previous_hash = previous_seq = None
            if index == lo:
                first_seq = -1
            if len(problems) >= MAX_PROBLEMS:
                break
            continue
        seq = record.get("seq")
        prev = record.get("prev_hash")
        computed = sha256(body).hexdigest()
        if record.keys() != BODY_KEYS:
            problems.append(
                Problem(
                    where,
                    f"record must have exactly the members {', '.join(sorted(RECORD_KEYS))}",
                    number,
                    seq,
                )
            )
        if computed != stored:
            problems.append(
                Problem(
                    where,
                    f"hash mismatch: record content was changed (stored {str(stored)[:16]}…, computed {computed[:16]}…)",
                    number,
                    seq,
                )
            )
        else:
            cut = body.find(b',"id":')
            if body[:cut] + b',"hash":"' + stored.encode() + b'"' + body[cut:] != line:
                problems.append(
                    Problem(where, "record line is not canonical JSON (bytes were changed)", number, seq)
                )
        if record.get("tenant") != tenant:
            problems.append(
                Problem(
                    where, f"record belongs to tenant {record.get('tenant')!r}, not {tenant!r}", number, seq
                )
            )
        if not isinstance(seq, int):
            problems.append(Problem(where, "seq is not an integer", number))
        elif previous_seq is not None and seq != previous_seq + 1:
            problems.append(Problem(where, _seq_message(previous_seq + 1, seq), number, seq))
        if previous_hash is not None and prev != previous_hash:
            problems.append(
                Problem(
                    where,
                    "broken link: prev_hash does not equal the hash of the previous record",
                    number,
                    seq,
                )
            )
        if index == lo:
            first_seq, first_prev = seq, prev
        if seq in checkpoint_seqs:
            at_checkpoints[seq] = stored
        previous_hash, previous_seq = stored, seq if isinstance(seq, int) else None
        last_seq, last_hash = seq, stored
        if len(problems) >= MAX_PROBLEMS:
            break
    return {
        "first_seq": first_seq, "first_prev": first_prev, "last_seq": last_seq, "last_hash": last_hash,
        "at_checkpoints": at_checkpoints, "problems": problems,
    }  # fmt: skip


_HASH_MEMBER = b'"hash":"'
_PREV_MEMBER = b',"prev_hash":"'


class _NotFast(Exception):
    """A line the fast walk does not vouch for; the full walk then judges the whole bundle."""


def _walk_chunk_fast(task: tuple[int, int, str, frozenset[int]]) -> dict:
    """The walk for intact bundles: hash each line's bytes without its `hash` member, and read seq and
    prev_hash by position, with no JSON parse and no re-canonicalisation.

    Sound because the caller accepts it only when every record of the bundle passes and chains up to a
    checkpoint that signs the last record: the signed head hash then pins, by SHA-256's second-preimage
    resistance, the exact bytes of every record back to the first, and those are the canonical bytes the
    portal hashed. The hash member must also sit at its canonical place (right after `created_at`), so
    no byte of the line can move unnoticed. Any doubt raises _NotFast and the full walk takes over.
    """
    lo, hi, tenant, checkpoint_seqs = task
    lines = _SHARED_LINES
    sha256 = hashlib.sha256
    tenant_tail = b',"tenant":' + canonicalize(tenant) + b"}"
    at_checkpoints: dict[int, str] = {}
    first_seq = first_prev = previous_hash = previous_seq = None
    for index in range(lo, hi):
        line = lines[index]
        i = line.find(_HASH_MEMBER)
        if (
            i < 45
            or not line.startswith(b'{"actor":')
            or line[i - 43 : i - 29] != b'"created_at":"'
            or line[i + 72 : i + 80] != b'","id":"'
            or not line.endswith(tenant_tail)
        ):
            raise _NotFast
        stored = line[i + 8 : i + 72].decode("ascii", "replace")
        if sha256(line[:i] + line[i + 74 :]).hexdigest() != stored:
            raise _NotFast
        j = line.rfind(_PREV_MEMBER)
        k = j + 86
        end = line.find(b",", k)
        if j < i or line[j + 78 : k] != b'","seq":' or end < 0 or not line[k:end].isdigit():
            raise _NotFast
        prev = line[j + 14 : j + 78].decode("ascii", "replace")
        seq = int(line[k:end])
        if previous_seq is not None and (seq != previous_seq + 1 or prev != previous_hash):
            raise _NotFast
        if index == lo:
            first_seq, first_prev = seq, prev
        if seq in checkpoint_seqs:
            at_checkpoints[seq] = stored
        previous_hash, previous_seq = stored, seq
    return {
        "first_seq": first_seq, "first_prev": first_prev, "last_seq": previous_seq, "last_hash": previous_hash,
        "at_checkpoints": at_checkpoints, "problems": [],
    }  # fmt: skip


def _walk_chunk_fast_or_none(task) -> dict | None:
    try:
        return _walk_chunk_fast(task)
    except (_NotFast, ValueError, UnicodeDecodeError):
        return None


def _seq_message(expected, seq) -> str:
    if isinstance(seq, int) and seq > expected:
        missing = f"seq {expected}" if seq == expected + 1 else f"seqs {expected}..{seq - 1}"
        return f"{missing} missing (records removed or reordered)"
    return f"expected seq {expected}, found {seq!r} (records reordered, duplicated or inserted)"


def _run_chunks(tasks: list, workers: int, walk=None) -> list:
    walk = walk or _walk_chunk
    if workers <= 1 or len(tasks) == 1:
        return [walk(task) for task in tasks]
    import multiprocessing

    try:
        context = multiprocessing.get_context("fork")  # children inherit the lines without copying them
    except ValueError:
        return [walk(task) for task in tasks]
    with context.Pool(workers) as pool:
        return pool.map(walk, tasks, chunksize=1)


def _verify_records(
    content, tenant, first_seq, last_seq, checkpoints: dict[int, dict], report: Report, workers=None
) -> int:
    """Walk records.jsonl: canonical form, hash, seq continuity, prev_hash links, checkpoint heads."""
    global _SHARED_LINES
    import os

    where = "records.jsonl"
    lines = bytes(content).split(b"\n")
    if lines[-1] != b"":
        report.add(where, "file must end with a newline (bytes were removed or added at the end)")
    lines.pop()
    if not lines:
        report.add(where, "bundle holds no records")
        return 0
    workers = workers or (os.cpu_count() or 1)
    if len(lines) < PARALLEL_THRESHOLD:
        workers = 1
    size = -(-len(lines) // (workers * 4 if workers > 1 else 1))
    seqs = frozenset(checkpoints) | {first_seq - 1}
    tasks = [(lo, min(lo + size, len(lines)), tenant, seqs) for lo in range(0, len(lines), size)]
    _SHARED_LINES = lines
    try:
        results = _run_chunks(tasks, workers, _walk_chunk_fast_or_none)
        if any(result is None for result in results):
            results = _run_chunks(tasks, workers)  # something is off: the full walk names it precisely
    finally:
        _SHARED_LINES = []

    anchor = checkpoints.get(first_seq - 1)
    previous_hash = GENESIS_HASH if first_seq == 1 else (anchor["head_hash"] if anchor else None)
    previous_seq = first_seq - 1
    for (lo, _hi, _t, _s), result in zip(tasks, results, strict=True):
        seq, prev = result["first_seq"], result["first_prev"]
        if seq is not None and seq != -1:
            if seq != previous_seq + 1 and previous_seq is not None:
                report.add(where, _seq_message(previous_seq + 1, seq), line=lo + 1, seq=seq)
            if previous_hash is not None and prev != previous_hash:
                what = (
                    "the checkpoint before the bundle"
                    if lo == 0 and first_seq != 1
                    else ("the genesis value (64 zeros)" if lo == 0 else "the previous record")
                )
                report.add(
                    where, f"broken link: prev_hash does not equal the hash of {what}", line=lo + 1, seq=seq
                )
            elif lo == 0 and not (isinstance(prev, str) and HEX64.match(prev)):
                report.add(where, "prev_hash is not 64 lowercase hex digits", line=1, seq=seq)
        report.problems.extend(result["problems"])
        for cp_seq, stored in result["at_checkpoints"].items():
            head = checkpoints[cp_seq]["head_hash"] if cp_seq in checkpoints else stored
            if head != stored:
                report.add(
                    where,
                    f"signed checkpoint at seq {cp_seq} names head hash {head[:16]}…, the record has {str(stored)[:16]}…",
                    seq=cp_seq,
                )
        previous_seq = result["last_seq"] if isinstance(result["last_seq"], int) else None
        previous_hash = result["last_hash"]
        if report.full:
            return len(lines)
    if previous_seq != last_seq:
        report.add(
            where,
            f"records end at seq {previous_seq}, the manifest says {last_seq} (records removed or added at the end)",
        )
    report.problems.sort(key=lambda p: (FILES.index(p.where) if p.where in FILES else -1, p.line or 0))
    return len(lines)


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
