"""cavra_engine.evidence.merkle against RFC 6962/9162 reference values and against a second, minimal
implementation written here from the RFC's recursive definitions (it does not call the product code)."""

import hashlib
import random

import pytest

from cavra_engine.evidence import merkle

# RFC 6962 test data (the Certificate Transparency reference leaves and tree heads).
LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                     "606162636465666768696a6b6c6d6e6f")]  # fmt: skip
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = {
    (0, 8): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (5, 8): ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
}  # fmt: skip
CONSISTENCY = {
    (2, 8): ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (2, 5): ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"],
}  # fmt: skip


# --- the second implementation: RFC 9162 section 2.1, literally -------------------------------------
def ref_leaf(data):
    return hashlib.sha256(b"\x00" + data).digest()


def ref_mth(d):
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]  # d holds leaf hashes
    k = 1
    while k * 2 < len(d):
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m, d):
    if len(d) == 1:
        return []
    k = 1
    while k * 2 < len(d):
        k *= 2
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m, d, b):
    if m == len(d):
        return [] if b else [ref_mth(d)]
    k = 1
    while k * 2 < len(d):
        k *= 2
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


# -----------------------------------------------------------------------------------------------------


def test_reference_roots_of_rfc_6962():
    hashed = [merkle.leaf_hash(x) for x in LEAVES]
    for size, expected in enumerate(ROOTS):
        assert merkle.root(hashed[:size]).hex() == expected
        frontier = merkle.Frontier()
        for leaf in hashed[:size]:
            frontier.append(leaf)
        assert frontier.root().hex() == expected


def test_reference_proofs():
    hashed = [merkle.leaf_hash(x) for x in LEAVES]
    subtree = merkle.list_subtree(hashed)
    for (index, size), expected in INCLUSION.items():
        proof = merkle.inclusion_proof(index, size, subtree)
        assert [p.hex() for p in proof] == expected
        assert merkle.verify_inclusion(index, size, hashed[index], proof, bytes.fromhex(ROOTS[size]))
    for (first, second), expected in CONSISTENCY.items():
        proof = merkle.consistency_proof(first, second, subtree)
        assert [p.hex() for p in proof] == expected
        assert merkle.verify_consistency(
            first, second, bytes.fromhex(ROOTS[first]), bytes.fromhex(ROOTS[second]), proof
        )


def test_agrees_with_the_second_implementation_on_thousands_of_random_trees():
    rng = random.Random(9162)
    for _ in range(3000):
        size = rng.randint(1, 70)
        leaves = [ref_leaf(rng.randbytes(rng.randint(0, 6))) for _ in range(size)]
        subtree = merkle.list_subtree(leaves)
        tree_root = ref_mth(leaves)
        assert merkle.root(leaves) == tree_root
        index = rng.randrange(size)
        proof = merkle.inclusion_proof(index, size, subtree)
        assert proof == ref_path(index, leaves)
        assert merkle.verify_inclusion(index, size, leaves[index], proof, tree_root)
        first = rng.randint(1, size)
        consistency = merkle.consistency_proof(first, size, subtree)
        assert consistency == ref_subproof(first, leaves, True)
        assert merkle.verify_consistency(first, size, ref_mth(leaves[:first]), tree_root, consistency)


def test_frontier_reports_every_completed_subtree():
    rng = random.Random(1)
    leaves = [ref_leaf(rng.randbytes(4)) for _ in range(37)]
    frontier, nodes = merkle.Frontier(), {}
    for leaf in leaves:
        for level, index, value in frontier.append(leaf):
            nodes[(level, index)] = value
    for (level, index), value in nodes.items():
        assert value == ref_mth(leaves[index << level : (index + 1) << level])
    stored = merkle.Frontier(frontier.size, frontier.hashes)
    stored.append(leaves[0])
    assert stored.root() == ref_mth(leaves + [leaves[0]])


@pytest.mark.parametrize("size", [2, 3, 5, 8, 13])
def test_tampered_proofs_are_rejected(size):
    leaves = [ref_leaf(bytes([i])) for i in range(size)]
    subtree, tree_root = merkle.list_subtree(leaves), ref_mth(leaves)
    for index in range(size):
        proof = merkle.inclusion_proof(index, size, subtree)
        assert not merkle.verify_inclusion(index, size, ref_leaf(b"other"), proof, tree_root)
        assert not merkle.verify_inclusion((index + 1) % size, size, leaves[index], proof, tree_root)
        assert not merkle.verify_inclusion(index, size, leaves[index], proof + [tree_root], tree_root)
        if proof:
            bad = [bytes([proof[0][0] ^ 1]) + proof[0][1:]] + proof[1:]
            assert not merkle.verify_inclusion(index, size, leaves[index], bad, tree_root)
    for first in range(1, size):
        proof = merkle.consistency_proof(first, size, subtree)
        assert not merkle.verify_consistency(first, size, ref_leaf(b"x"), tree_root, proof)
        assert not merkle.verify_consistency(first, size, ref_mth(leaves[:first]), ref_leaf(b"x"), proof)
        assert not merkle.verify_consistency(first, size, ref_mth(leaves[:first]), tree_root, proof[:-1])


def test_extend_records_builds_the_same_tree_as_the_reference_from_any_start():
    rng = random.Random(15)
    for _ in range(200):
        start, more = rng.randrange(0, 300), rng.randrange(0, 300)
        records = [hashlib.sha256(str(rng.random()).encode()).hexdigest() for _ in range(start + more)]
        leaves = [ref_leaf(bytes.fromhex(h)) for h in records]
        head = merkle.Frontier()
        for leaf in leaves[:start]:
            head.append(leaf)
        tree = merkle.Frontier(start, head.hashes)
        tree.extend_records(records[start:])
        assert tree.size == start + more and tree.root() == ref_mth(leaves)
