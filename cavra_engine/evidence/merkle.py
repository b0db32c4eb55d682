"""RFC 9162 (Certificate Transparency v2) Merkle tree hashes, inclusion and consistency proofs. Django-free.

Leaves are the 32-byte record hashes (the chain's `hash`, as bytes): leaf hash = SHA-256(0x00 || hash),
interior node = SHA-256(0x01 || left || right), the empty tree's root = SHA-256(""). Proof generation
takes `subtree(lo, hi)` -> MTH of leaves [lo, hi), so the same code serves a list in memory and the
portal's stored perfect-subtree nodes (only aligned ranges are ever asked for, see `aligned_blocks`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()
Subtree = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2): RFC 9162's k."""
    return 1 << ((n - 1).bit_length() - 1)


def aligned_blocks(lo: int, hi: int) -> list[tuple[int, int]]:
    """[lo, hi) as perfect subtrees, largest first: (level, index) with leaves index*2^level ...

    Valid for the ranges the RFC recursion produces (lo is a multiple of the largest block's size).
    """
    blocks = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        while lo % (1 << level):
            level -= 1
        blocks.append((level, lo >> level))
        lo += 1 << level
    return blocks


def fold(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from its aligned perfect subtrees, largest first (combined right to left)."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes (already hashed with leaf_hash)."""
    if not leaves:
        return EMPTY_ROOT
    return list_subtree(leaves)(0, len(leaves))


def list_subtree(leaves: Sequence[bytes]) -> Subtree:
    def subtree(lo: int, hi: int) -> bytes:
        level = list(leaves[lo:hi])
        if len(level) == 1:
            return level[0]
        k = split(len(level))
        return node_hash(subtree(lo, lo + k), subtree(lo + k, hi))

    return subtree


def inclusion_proof(index: int, size: int, subtree: Subtree) -> list[bytes]:
    """RFC 9162 2.1.3.1 PATH(m, D[n]) for leaf `index` (0-based) in a tree of `size` leaves."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    proof: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = split(hi - lo)
        if index < lo + k:
            proof.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            proof.append(subtree(lo, lo + k))
            lo = lo + k
    proof.reverse()
    return proof


def consistency_proof(first: int, second: int, subtree: Subtree) -> list[bytes]:
    """RFC 9162 2.1.4.1 PROOF(m, D[n]) for 0 < first <= second."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    proof: list[bytes] = []
    lo, hi, m, complete = 0, second, first, True
    while True:
        n = hi - lo
        if m == n:
            if not complete:
                proof.append(subtree(lo, hi))
            break
        k = split(n)
        if m <= k:
            proof.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            proof.append(subtree(lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    proof.reverse()
    return proof


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes
) -> bool:
    """RFC 9162 2.1.3.2."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2."""
    if first == second:
        return not proof and first_root == second_root
    if not 0 < first < second or not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: first_root is the first node of the path
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


class Frontier:
    """The compact range [0, size): one perfect-subtree hash per set bit of size, largest first.

    Appending is O(log n) amortised O(1); `completed` reports each perfect subtree the append finished,
    so a store can keep every node (level, index) for proofs without re-reading leaves.
    """

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()):
        if len(hashes) != bin(size).count("1"):
            raise ValueError("a frontier holds one hash per set bit of its size")
        self.size = size
        self.hashes = list(hashes)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; return the (level, index, hash) of every subtree completed, leaf included."""
        completed = [(0, self.size, leaf)]
        node, level, index = leaf, 0, self.size
        while self.size >> level & 1:
            node = node_hash(self.hashes.pop(), node)
            level += 1
            index >>= 1
            completed.append((level, index, node))
        self.hashes.append(node)
        self.size += 1
        return completed

    def extend_records(self, record_hashes: Sequence[str]) -> None:
        """Append many leaves given as record hashes (hex), without reporting completed subtrees.

        The verifier's hot loop: the same tree as append(leaf_hash(bytes.fromhex(h))) for each, with the
        hashing and the stack inlined (a third of the cost).
        """
        hashes, size, sha256, fromhex = self.hashes, self.size, hashlib.sha256, bytes.fromhex
        pop, push = hashes.pop, hashes.append
        for digest in record_hashes:
            node = sha256(b"\x00" + fromhex(digest)).digest()
            carry = size
            while carry & 1:
                node = sha256(b"\x01" + pop() + node).digest()
                carry >>= 1
            push(node)
            size += 1
        self.size = size

    def root(self) -> bytes:
        return fold(self.hashes) if self.hashes else EMPTY_ROOT
