"""The record walk of the verifier: every line of records.jsonl strictly checked, in parallel chunks.

Per record: canonical bytes, exact members with types and patterns, hash, tenant, seq and prev_hash
links, and whether it matches the export filter (docs/evidence-format.md section 6 step 8, 5.1).
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

from . import schema
from .bundle import RECORD_KEYS
from .canonical import GENESIS_HASH, CanonicalizationError, canonicalize_trusted
from .report import (
    CHECKPOINT_HEAD,
    FILE_NEWLINE,
    MAX_PROBLEMS,
    RECORD_EMPTY,
    RECORD_END,
    RECORD_HASH,
    RECORD_LINK,
    RECORD_SEQ,
    RECORD_TENANT,
    Problem,
    Report,
)

_parse_canonical = schema.parse_canonical


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
