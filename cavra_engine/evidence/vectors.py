"""Test vectors for evidence verifiers: one valid bundle and one bundle per way of breaking the format.

Everything is deterministic (fixed key seed and times), so `python -m cavra_engine.evidence.vectors DIR`
writes byte-identical files to docs/evidence-vectors/ and tests compare. Each invalid bundle is signed
with the genuine key after it was broken, so a verifier has to catch it from the format alone.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import container, merkle
from .bundle import FILES, FORMAT_V2, MANIFEST_SIG_TYPE, key_id_for, public_key_raw, sign_checkpoint
from .canonical import GENESIS_HASH, canonicalize
from .synthetic import EMPTY_FILTER

KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"cavra example key").digest())
TENANT = "acme"
COUNT = 12
CHECKPOINTS = (4, 8, 12)


def _time(second: int, micro: int = 0) -> str:
    return f"2026-01-01T00:{second // 60:02d}:{second % 60:02d}.{micro:06d}Z"


def _record(seq: int, prev_hash: str) -> dict:
    return {
        "id": f"evd_{seq:024x}", "tenant": TENANT, "seq": seq,
        "kind": "decision.recorded" if seq % 3 else "approval.reviewed",
        "subject": f"dec_{seq:06d}",
        "payload": {"action": "execute_command", "decision": "block" if seq % 5 == 0 else "allow",
                    "session": "ses_a" if seq % 2 else "ses_b", "target": f"make test-{seq} é"},
        "actor": "agent:agt_example" if seq % 3 else "user:rita@acme.test",
        "created_at": _time(seq), "prev_hash": prev_hash,
    }  # fmt: skip


def _naive_hash(line: bytes) -> str:
    """What a verifier that hashes line text (instead of the canonical form) would accept."""
    cut = line.find(b',"hash":"')
    return hashlib.sha256(line[:cut] + line[cut + 74 :]).hexdigest()


@dataclass
class Parts:
    """A bundle's pieces before assembly; the mutators below change them, assemble() signs them."""

    lines: list[bytes]  # records.jsonl lines without the newline
    checkpoints: list[dict]
    trust_root: dict
    manifest: dict
    signature_extra: dict | None = None
    post: Callable[[dict, list[dict]], None] | None = None  # runs on (manifest, checkpoints) before signing

    def record(self, seq: int) -> dict:
        return json.loads(self.lines[seq - self.manifest["first_seq"]])


def valid_parts(count: int = COUNT, checkpoints=CHECKPOINTS) -> Parts:
    lines, hashes, prev = [], {}, GENESIS_HASH
    for seq in range(1, count + 1):
        record = _record(seq, prev)
        record["hash"] = prev = hashlib.sha256(canonicalize(record)).hexdigest()
        hashes[seq] = prev
        lines.append(canonicalize(record))
    leaves = [merkle.leaf_hash(bytes.fromhex(hashes[s])) for s in range(1, count + 1)]
    cps = [
        sign_checkpoint(tenant=TENANT, seq=s, head_hash=hashes[s], created_at=_time(s, 500_000), private_key=KEY,
                        root_hash=merkle.root(leaves[:s]).hex())
        for s in checkpoints
    ]  # fmt: skip
    root = {
        "type": "cavra.evidence.trust-root/v1", "tenant": TENANT, "created_at": _time(100),
        "keys": [{"key_id": key_id_for(public_key_raw(KEY.public_key())), "algorithm": "Ed25519",
                  "public_key": public_key_raw(KEY.public_key()).hex(),
                  "fingerprint": hashlib.sha256(public_key_raw(KEY.public_key())).hexdigest(),
                  "valid_from": "2025-12-31T00:00:00.000000Z", "valid_until": None}],
    }  # fmt: skip
    manifest = {
        "format": FORMAT_V2, "tenant": TENANT, "created_at": _time(120), "first_seq": 1, "last_seq": count,
        "counts": {"records": count, "checkpoints": len(cps)},
        "selection": {"filter": dict(EMPTY_FILTER), "matched": count, "matched_seqs": None},
        "files": {}, "chain": {"checkpoint_seqs": list(checkpoints), "latest_checkpoint": checkpoints[-1],
                               "frontier": [], "consistency": []},
    }  # fmt: skip
    return Parts(lines, cps, root, manifest)


def assemble(parts: Parts, *, refresh: bool = True) -> bytes:
    """Sign and pack. refresh=True recomputes hashes naively, re-signs checkpoints and fixes counts/files."""
    lines = list(parts.lines)
    checkpoints = [dict(c) for c in parts.checkpoints]
    if refresh:
        full = {seq: json.loads(line)["hash"] for seq, line in enumerate(valid_parts_lines(), start=1)}
        by_seq = {}
        for index, line in enumerate(lines):
            cut = line.find(b',"hash":"')
            if cut >= 0:
                lines[index] = line[: cut + 9] + _naive_hash(line).encode() + line[cut + 73 :]
                by_seq[json.loads(lines[index]).get("seq")] = _naive_hash(lines[index])
        full.update(by_seq)
        leaves = [merkle.leaf_hash(bytes.fromhex(full[s])) for s in sorted(full)]
        for cp in checkpoints:
            body = {k: v for k, v in cp.items() if k != "signature"}
            if cp["seq"] in by_seq:
                body["head_hash"] = by_seq[cp["seq"]]
            if "root_hash" in body:
                body["root_hash"] = merkle.root(leaves[: cp["seq"]]).hex()
            if body != {k: v for k, v in cp.items() if k != "signature"}:
                cp.clear()
                cp.update(body, signature=KEY.sign(canonicalize(body)).hex())
    files = {
        "records.jsonl": b"".join(line + b"\n" for line in lines),
        "checkpoints.jsonl": b"".join(canonicalize(c) + b"\n" for c in checkpoints),
        "trust-root.json": canonicalize(parts.trust_root),
    }
    manifest = json.loads(json.dumps(parts.manifest))
    if refresh and "chain" in manifest:
        first, last, latest = (
            manifest["first_seq"],
            manifest["last_seq"],
            manifest["chain"]["latest_checkpoint"],
        )
        subtree = merkle.list_subtree(leaves)
        manifest["chain"]["frontier"] = [h.hex() for h in _frontier(leaves[: first - 1])]
        manifest["chain"]["consistency"] = (
            [h.hex() for h in merkle.consistency_proof(last, latest, subtree)] if latest > last else []
        )
    if parts.post is not None:
        parts.post(manifest, checkpoints)
        files["checkpoints.jsonl"] = b"".join(canonicalize(c) + b"\n" for c in checkpoints)
    if refresh:
        manifest["counts"] = {"records": len(lines), "checkpoints": len(checkpoints)}
        manifest["files"] = {
            name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
            for name, data in files.items()
        }
    manifest_bytes = canonicalize(manifest)
    signature = {
        "type": MANIFEST_SIG_TYPE, "key_id": key_id_for(public_key_raw(KEY.public_key())),
        "algorithm": "Ed25519", "signature": KEY.sign(manifest_bytes).hex(), **(parts.signature_extra or {}),
    }  # fmt: skip
    files["manifest.json"] = manifest_bytes
    files["manifest.sig"] = canonicalize(signature)
    return container.build([(name, files[name]) for name in FILES])


def valid_parts_lines() -> list[bytes]:
    return valid_parts().lines


def _frontier(leaves) -> list[bytes]:
    frontier = merkle.Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    return frontier.hashes


def _resign(cp: dict, **changes) -> None:
    body = {k: v for k, v in cp.items() if k != "signature"}
    body.update(changes)
    cp.clear()
    cp.update(body, signature=KEY.sign(canonicalize(body)).hex())


def _post(parts: Parts, post) -> Parts:
    parts.post = post
    return parts


def _ends_before_latest(parts: Parts) -> Parts:
    """A session export whose last match (7) is covered by checkpoint 8, while the latest head is 12."""
    parts.lines = parts.lines[:8]
    parts.manifest["last_seq"] = 8
    parts.manifest["selection"] = {
        "filter": {**EMPTY_FILTER, "session": "ses_a", "last_seq": 8}, "matched": 4, "matched_seqs": [1, 3, 5, 7],
    }  # fmt: skip
    return parts


def _edit_last(parts: Parts, edit: Callable[[bytes], bytes]) -> Parts:
    parts.lines[-1] = edit(parts.lines[-1])
    return parts


def _set_member(parts: Parts, name: str, value) -> Parts:
    record = parts.record(COUNT)
    record[name] = value
    parts.lines[-1] = canonicalize(record)
    return parts


def _drop_member(parts: Parts, name: str) -> Parts:
    record = parts.record(COUNT)
    del record[name]
    parts.lines[-1] = canonicalize(record)
    return parts


def _replace(old: bytes, new: bytes) -> Callable[[bytes], bytes]:
    def edit(line: bytes) -> bytes:
        assert old in line, (old, line)
        return line.replace(old, new, 1)

    return edit


def _extra_checkpoint_member(parts: Parts) -> Parts:
    parts.checkpoints[0] = {**parts.checkpoints[0], "note": "x"}
    body = {k: v for k, v in parts.checkpoints[0].items() if k != "signature"}
    parts.checkpoints[0]["signature"] = KEY.sign(canonicalize(body)).hex()
    return parts


def _narrow(parts: Parts, seqs) -> Parts:
    parts.manifest["selection"] = {
        "filter": {**EMPTY_FILTER, "session": "ses_a"}, "matched": len(seqs), "matched_seqs": seqs,
    }  # fmt: skip
    return parts


def _cut(parts: Parts, last: int) -> Parts:
    parts.lines = parts.lines[:last]
    parts.manifest["last_seq"] = last
    parts.manifest["selection"]["matched"] = last
    return parts


def _start_at(parts: Parts, first: int, *, keep_anchor: bool) -> Parts:
    parts.lines = parts.lines[first - 1 :]
    parts.manifest["first_seq"] = first
    parts.manifest["selection"]["matched"] = COUNT - first + 1
    parts.manifest["selection"]["filter"]["first_seq"] = first
    if not keep_anchor:
        parts.checkpoints = [c for c in parts.checkpoints if c["seq"] >= first]
        parts.manifest["chain"]["checkpoint_seqs"] = [c["seq"] for c in parts.checkpoints]
    return parts


def _drop_middle_checkpoint(parts: Parts) -> Parts:
    parts.checkpoints = [c for c in parts.checkpoints if c["seq"] != 8]
    return parts


ODD = "ses_a"  # records with odd seq carry this session
ODD_SEQS = [s for s in range(1, COUNT + 1) if s % 2]

# name -> (mutation, expected error code, expected file, seq named, member named, what it shows)
CASES: dict[str, tuple[Callable[[Parts], Parts], str, str, int | None, str | None, str]] = {
    "non-canonical-escape": (lambda p: _edit_last(p, _replace("é".encode(), b"\\u00e9")), "json.not_canonical",
                             "records.jsonl", 12, "target", "\\u00e9 where RFC 8785 writes é as itself"),
    "fractional-number": (lambda p: _edit_last(p, _replace(b'"action"', b'"a":1.5,"action"')), "json.number",
                          "records.jsonl", 12, "a", "1.5: numbers are integers only"),
    "integer-out-of-range": (lambda p: _edit_last(p, _replace(b'"action"', b'"a":9007199254740992,"action"')),
                             "json.number", "records.jsonl", 12, "a", "2^53 is outside ±(2^53-1)"),
    "duplicate-key": (lambda p: _edit_last(p, _replace(b'"session"', b'"decision":"block","session"')),
                      "json.duplicate_key", "records.jsonl", 12, "decision", "payload has decision twice"),
    "lone-surrogate": (lambda p: _edit_last(p, _replace("é".encode(), b"\\ud800")), "json.surrogate",
                       "records.jsonl", 12, "payload.target", "\\ud800 is not a Unicode scalar value"),
    "timestamp-without-fraction": (lambda p: _set_member(p, "created_at", "2026-01-01T00:00:12Z"), "member.format",
                                   "records.jsonl", 12, "created_at", "created_at needs 6 fraction digits"),
    "timestamp-impossible-date": (lambda p: _set_member(p, "created_at", "2026-02-30T00:00:12.000000Z"),
                                  "member.format", "records.jsonl", 12, "created_at", "February 30th"),
    "wrong-type": (lambda p: _set_member(p, "subject", 12), "member.type", "records.jsonl", 12, "subject",
                   "subject is an integer"),
    "record-extra-member": (lambda p: _set_member(p, "note", "x"), "member.extra", "records.jsonl", 12, "note",
                            "a record with an 11th member"),
    "record-missing-member": (lambda p: _drop_member(p, "actor"), "member.missing", "records.jsonl", 12, "actor",
                              "a record without actor"),
    "record-id-length": (lambda p: _set_member(p, "id", "evd_" + "0" * 22), "member.format", "records.jsonl", 12,
                         "id", "evd_ + 22 hex digits instead of 24"),
    "actor-unknown-form": (lambda p: _set_member(p, "actor", "root"), "member.format", "records.jsonl", 12,
                           "actor", "actor is neither user:, agent:, system: nor null"),
    "manifest-extra-member": (lambda p: (p.manifest.update(note="x"), p)[1], "member.extra", "manifest.json",
                              None, "note", "manifest with a member the format does not define"),
    "trust-root-extra-member": (lambda p: (p.trust_root.update(note="x"), p)[1], "member.extra", "trust-root.json",
                                None, "note", "trust root with a member the format does not define"),
    "trust-root-key-extra-member": (lambda p: (p.trust_root["keys"][0].update(note="x"), p)[1], "member.extra",
                                    "trust-root.json", None, "keys[0].note", "key entry with an extra member"),
    "checkpoint-extra-member": (_extra_checkpoint_member, "member.extra", "checkpoints.jsonl", 4, "note",
                                "checkpoint with an extra member (and a valid signature over it)"),
    "manifest-signature-extra-member": (lambda p: (setattr(p, "signature_extra", {"note": "x"}), p)[1],
                                        "member.extra", "manifest.sig", None, "note", "manifest.sig with an extra member"),
    "matched-seqs-inconsistent": (lambda p: _narrow(p, [1, 3, 5, 7, 9]), "selection.matched",
                                  "manifest.json", None, "selection.matched", "matched says 5, six records match"),
    "matched-seqs-wrong": (lambda p: _narrow(p, [1, 3, 5, 7, 9, 10]), "selection.matched_seqs", "manifest.json",
                           None, "selection.matched_seqs", "matched_seqs lists 10, which does not match"),
    "matched-seqs-unsorted": (lambda p: _narrow(p, [1, 5, 3, 7, 9, 11]), "member.format", "manifest.json", None,
                              "selection.matched_seqs", "matched_seqs not increasing"),
    "missing-middle-checkpoint": (_drop_middle_checkpoint, "checkpoint.missing", "checkpoints.jsonl", 8, None,
                                  "the manifest commits to checkpoint 8, the bundle dropped it"),
    "cut-at-earlier-checkpoint": (lambda p: _cut(p, 8), "selection.cut", "manifest.json", None, "last_seq",
                                  "open-ended export cut at checkpoint 8 while the latest is 12"),
    "merkle-root-mismatch": (lambda p: _post(p, lambda m, cps: _resign(cps[1], root_hash="ab" * 32)),
                             "merkle.root_mismatch", "checkpoints.jsonl", 8, "root_hash",
                             "signed tree head at 8 names a root the records do not give"),
    "merkle-frontier-wrong": (lambda p: _post(_start_at(p, 5, keep_anchor=True),
                                              lambda m, cps: m["chain"].update(frontier=["cd" * 32])),
                              "merkle.frontier", "manifest.json", None, "chain.frontier",
                              "frontier before seq 5 does not give the root signed at seq 4"),
    "merkle-consistency-wrong": (lambda p: _post(_ends_before_latest(p),
                                                 lambda m, cps: m["chain"].update(consistency=["ef" * 32])),
                                 "merkle.consistency", "manifest.json", None, "chain.consistency",
                                 "consistency proof from 8 to the latest head 12 does not verify"),
    "unanchored-start": (lambda p: _start_at(p, 5, keep_anchor=False), "record.unanchored", "records.jsonl", 5,
                         None, "first_seq 5 with no checkpoint at 4"),
}  # fmt: skip

VALID: dict[str, Callable[[Parts], Parts]] = {
    "valid": lambda p: p,
    "valid-anchored-start": lambda p: _start_at(p, 5, keep_anchor=True),
    "valid-session-filter": lambda p: _narrow(p, ODD_SEQS),
    "valid-ends-before-latest-head": _ends_before_latest,
}


def build_vectors() -> dict[str, tuple[bytes, dict]]:
    """name -> (bundle bytes, expectation document)."""
    out: dict[str, tuple[bytes, dict]] = {}
    for name, mutate in VALID.items():
        out[name] = (assemble(mutate(valid_parts())), {"valid": True})
    for name, (mutate, code, where, seq, member, why) in CASES.items():
        out[name] = (
            assemble(mutate(valid_parts())),
            {"valid": False, "code": code, "where": where, "seq": seq, "member": member, "what": why},
        )
    return out


def trust_root_bytes() -> bytes:
    return canonicalize(valid_parts().trust_root)


def write(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    index = {}
    for name, (data, expectation) in build_vectors().items():
        (directory / f"{name}.zip").write_bytes(data)
        index[name] = expectation
    (directory / "trust-root.json").write_bytes(trust_root_bytes())
    (directory / "expected.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    write(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/evidence-vectors"))
