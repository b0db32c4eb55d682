"""Bundle-level commitments (v2): selection rules, the checkpoints the manifest commits to, the Merkle
tree rebuilt from the anchor's frontier, and heads countersigned by witnesses (docs/evidence-format.md
sections 5.1, 6 steps 11-12, 12)."""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from . import merkle, schema
from .canonical import CanonicalizationError, canonicalize
from .report import (
    CHECKPOINT_MISSING,
    CHECKPOINT_UNLISTED,
    MERKLE_CONSISTENCY,
    MERKLE_FRONTIER,
    MERKLE_ROOT,
    RECORD_UNANCHORED,
    SELECTION_CUT,
    SELECTION_MATCHED,
    SELECTION_RANGE,
    SELECTION_SEQS,
    WITNESS_MISMATCH,
    WITNESS_SIGNATURE,
    Report,
)

COSIGNATURE_TYPE = "cavra.evidence.witness-cosignature/v1"


def cosignature_valid(tree_head: dict, cosignature: dict, witness_public_key: Ed25519PublicKey) -> bool:
    """A witness's countersignature over a tree head (docs/evidence-format.md section 12)."""
    if not isinstance(cosignature, dict) or cosignature.get("type") != COSIGNATURE_TYPE:
        return False
    body = {k: v for k, v in cosignature.items() if k != "signature"}
    try:
        message = canonicalize({"tree_head": tree_head, **body})
        witness_public_key.verify(bytes.fromhex(cosignature["signature"]), message)
    except (InvalidSignature, ValueError, TypeError, KeyError, CanonicalizationError):
        return False
    return True


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
    stops = sorted(s for s in {*heads, *extra_sizes} if first_seq <= s <= first_seq + len(hashes) - 1)
    done = 0
    for seq in stops:  # grow the tree in runs between the sizes whose roots are needed
        tree.extend_records(hashes[done : seq - first_seq + 1])
        done = seq - first_seq + 1
        roots[seq] = tree.root().hex()
        if seq in heads and roots[seq] != heads[seq]["root_hash"]:
            report.add(
                "checkpoints.jsonl", "signed tree head's root_hash differs from the Merkle root of the records",
                code=MERKLE_ROOT, seq=seq, member="root_hash",
            )  # fmt: skip
    tree.extend_records(hashes[done:])
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
