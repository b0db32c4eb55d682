"""Walking the records of a bundle: seq order, prev_hash links and hashes, in parallel chunks for big chains."""

from __future__ import annotations

import hashlib
import re

from .bundle import (
    FILES,
    RECORD_KEYS,
)
from .canonical import GENESIS_HASH, CanonicalizationError, canonicalize, canonicalize_trusted, parse_line
from .report import MAX_PROBLEMS, Problem, Report

HEX64 = re.compile(r"[0-9a-f]{64}\Z")

# The lines being walked; worker processes inherit them on fork instead of receiving a copy.
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
