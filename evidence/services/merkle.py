"""The tenant's RFC 9162 Merkle tree over its records: extended at each checkpoint, proofs from stored nodes.

The decision path never touches the tree: appends only write records. The tree catches up from its stored
frontier when a checkpoint is signed (O(k) for k new records, two node rows per record), so proofs and
roots for any size up to the latest signed tree head are answered from O(log² n) stored nodes.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from cavra_engine.evidence import merkle
from evidence.models import EvidenceRecord, MerkleNode, MerkleTree
from evidence.services.common import EvidenceError
from tenants.models import Tenant

_BATCH = 5000
_CHUNK = 200_000


def merkle_extend(*, tenant: Tenant, size: int) -> MerkleTree:
    """Grow the tenant's tree to at least `size` leaves (records 1..size); raises when records are missing.

    In steps of _CHUNK leaves, each its own transaction (when not called inside one), so the first head
    of a large existing chain neither holds the tree lock nor one transaction open for the whole build.
    """
    while True:
        tree = _merkle_extend_chunk(tenant=tenant, size=size)
        if tree.size >= size:
            return tree


def _merkle_extend_chunk(*, tenant: Tenant, size: int) -> MerkleTree:
    with transaction.atomic():
        MerkleTree.objects.bulk_create([MerkleTree(tenant=tenant)], ignore_conflicts=True)
        tree = MerkleTree.objects.select_for_update().get(tenant=tenant)
        if tree.size >= size:
            return tree
        size = min(size, tree.size + _CHUNK)
        frontier = merkle.Frontier(tree.size, [bytes.fromhex(h) for h in tree.frontier])
        nodes: list[MerkleNode] = []
        rows = (
            EvidenceRecord.objects.filter(tenant=tenant, seq__gt=tree.size, seq__lte=size)
            .order_by("seq")
            .values_list("seq", "hash")
        )
        for seq, digest in rows.iterator(chunk_size=_BATCH):
            if seq != frontier.size + 1:
                raise EvidenceError(
                    f"record #{frontier.size + 1} is missing (purged before the Merkle tree reached it); "
                    "the tree cannot grow past it"
                )
            for level, index, value in frontier.append(merkle.leaf_hash(bytes.fromhex(digest))):
                nodes.append(MerkleNode(tenant=tenant, level=level, index=index, hash=value.hex()))
            if len(nodes) >= _BATCH:
                MerkleNode.objects.bulk_create(nodes, ignore_conflicts=True)
                nodes = []
        MerkleNode.objects.bulk_create(nodes, ignore_conflicts=True)
        if frontier.size != size:
            raise EvidenceError(
                f"record #{frontier.size + 1} is missing; the tree cannot reach {size} leaves"
            )
        tree.size, tree.frontier, tree.updated_at = size, [h.hex() for h in frontier.hashes], timezone.now()
        tree.save(update_fields=["size", "frontier", "updated_at"])
        return tree


def _nodes(tenant: Tenant, wanted: set[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    if not wanted:
        return {}
    by_level: dict[int, list[int]] = {}
    for level, index in wanted:
        by_level.setdefault(level, []).append(index)
    where = Q()
    for level, indexes in by_level.items():  # one clause per level keeps the plan to index lookups
        where |= Q(level=level, index__in=indexes)
    rows = MerkleNode.objects.filter(where, tenant=tenant).values_list("level", "index", "hash")
    return {(level, index): bytes.fromhex(value) for level, index, value in rows}


def _stored_subtree(tenant: Tenant, ask):
    """Run `ask(subtree)` twice: once to learn which aligned nodes it needs, once with them (one query)."""
    wanted: set[tuple[int, int]] = set()

    def record(lo: int, hi: int) -> bytes:
        wanted.update(merkle.aligned_blocks(lo, hi))
        return b""

    ask(record)
    found = _nodes(tenant, wanted)
    if len(found) != len(wanted):
        raise EvidenceError("the Merkle tree has not been built this far yet; sign a checkpoint first")

    def subtree(lo: int, hi: int) -> bytes:
        return merkle.fold([found[block] for block in merkle.aligned_blocks(lo, hi)])

    return ask(subtree)


def merkle_size(tenant: Tenant) -> int:
    return MerkleTree.objects.filter(tenant=tenant).values_list("size", flat=True).first() or 0


def merkle_root(*, tenant: Tenant, size: int) -> bytes:
    if size == 0:
        return merkle.EMPTY_ROOT
    return _stored_subtree(tenant, lambda subtree: subtree(0, size))


def merkle_frontier(*, tenant: Tenant, size: int) -> list[bytes]:
    """The compact range [0, size) (what a bundle starting at seq size+1 carries)."""
    if size == 0:
        return []
    return _stored_subtree(tenant, lambda subtree: [subtree(lo, hi) for lo, hi in _frontier_ranges(size)])


def _frontier_ranges(size: int) -> list[tuple[int, int]]:
    ranges, lo = [], 0
    for bit in reversed(range(size.bit_length())):
        if size >> bit & 1:
            ranges.append((lo, lo + (1 << bit)))
            lo += 1 << bit
    return ranges


def merkle_inclusion_proof(*, tenant: Tenant, seq: int, size: int) -> list[bytes]:
    """Audit path of record `seq` (leaf seq-1) in the tree of `size` records."""
    return _stored_subtree(tenant, lambda subtree: merkle.inclusion_proof(seq - 1, size, subtree))


def merkle_consistency_proof(*, tenant: Tenant, first: int, second: int) -> list[bytes]:
    if first == second:
        return []
    return _stored_subtree(tenant, lambda subtree: merkle.consistency_proof(first, second, subtree))
