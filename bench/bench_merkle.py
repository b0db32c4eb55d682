"""Merkle log and strict verifier benchmarks.

    .venv/bin/python bench/bench_merkle.py [--leaves 1000000] [--bundle 200000] [--proofs 500]

1. Offline verification of a bundle with signed tree heads (strict canonical checks + Merkle rebuild),
   the same code as `cavra evidence verify`.
2. Growing a tenant's tree in PostgreSQL (MerkleNode rows, as checkpoint_create does) for --leaves
   synthetic record hashes, then p50/p95 of inclusion and consistency proofs served from stored nodes
   (the code behind GET /api/v1/evidence/records/{id}/proof).
Prints a Markdown table; paste it into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DB_NAME = "cavra_bench_merkle"


def bench_verify(records: int) -> dict:
    from cavra_engine.evidence.synthetic import synthetic_bundle
    from cavra_engine.evidence.verify import verify_bundle

    data, _ = synthetic_bundle(records, checkpoint_every=10_000, merkle_heads=True)
    started = time.perf_counter()
    report = verify_bundle(data)
    elapsed = time.perf_counter() - started
    assert report.ok, report.problems[:3]
    return {"records": records, "seconds": elapsed, "per_second": records / elapsed, "bytes": len(data)}


def bench_proofs(leaves: int, proofs: int, base_url: str) -> dict:
    import psycopg

    admin_url = base_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    os.environ["DATABASE_URL"] = base_url.rsplit("/", 1)[0] + "/" + DB_NAME
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cavra_portal.settings_test")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from cavra_engine.evidence import merkle
    from evidence.models import MerkleTree
    from evidence.services import merkle_consistency_proof, merkle_inclusion_proof, merkle_root
    from tenants.models import Tenant

    call_command("migrate", verbosity=0)
    tenant = Tenant.objects.create(slug="bench-merkle", name="Bench")
    # The nodes merkle_extend would write, written with COPY (the records themselves are not needed here).
    frontier = merkle.Frontier()
    started = time.perf_counter()
    hashes = []
    with (
        connection.cursor() as cursor,
        cursor.copy("COPY evidence_merklenode (tenant_id, level, index, hash) FROM STDIN") as copy,
    ):
        for i in range(leaves):
            leaf = merkle.leaf_hash(hashlib.sha256(i.to_bytes(8, "big")).digest())
            hashes.append(leaf)
            for level, index, value in frontier.append(leaf):
                copy.write_row((tenant.pk, level, index, value.hex()))
    built = time.perf_counter() - started
    MerkleTree.objects.create(tenant=tenant, size=leaves, frontier=[h.hex() for h in frontier.hashes])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE evidence_merklenode")
    rng = random.Random(7)
    root = merkle_root(tenant=tenant, size=leaves)
    assert root == frontier.root()
    inclusion, consistency = [], []
    for _ in range(proofs):
        seq = rng.randint(1, leaves)
        t0 = time.perf_counter()
        path = merkle_inclusion_proof(tenant=tenant, seq=seq, size=leaves)
        inclusion.append(time.perf_counter() - t0)
        assert merkle.verify_inclusion(seq - 1, leaves, hashes[seq - 1], path, root)
        first = rng.randint(1, leaves)
        t0 = time.perf_counter()
        merkle_consistency_proof(tenant=tenant, first=first, second=leaves)
        consistency.append(time.perf_counter() - t0)

    def pct(values, q):
        return statistics.quantiles(values, n=100)[q - 1] * 1000

    return {
        "leaves": leaves, "build_seconds": built, "build_per_second": leaves / built,
        "inclusion_p50": pct(inclusion, 50), "inclusion_p95": pct(inclusion, 95),
        "consistency_p50": pct(consistency, 50), "consistency_p95": pct(consistency, 95),
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--bundle", type=int, default=200_000)
    parser.add_argument("--proofs", type=int, default=500)
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cavra")
    )
    args = parser.parse_args()
    verify = bench_verify(args.bundle)
    proofs = bench_proofs(args.leaves, args.proofs, args.database_url)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"Run on {platform.machine()}, {os.cpu_count()} CPUs (load average at the end {load}), "
          f"Python {platform.python_version()}\n")  # fmt: skip
    print("| benchmark | result | target |\n|---|---|---|")
    print(f"| strict offline verification incl. Merkle rebuild, {verify['records']:,}-record bundle "
          f"({verify['bytes'] / 1e6:,.0f} MB) | {verify['per_second']:,.0f} records/s ({verify['seconds']:.2f}s) "
          "| >= 100,000/s |")  # fmt: skip
    print(f"| growing the tree in PostgreSQL ({proofs['leaves']:,} leaves, COPY of the node rows) | "
          f"{proofs['build_per_second']:,.0f} leaves/s | — |")  # fmt: skip
    print(f"| inclusion proof from stored nodes, tree of {proofs['leaves']:,} | p50 {proofs['inclusion_p50']:.2f} ms, "
          f"p95 {proofs['inclusion_p95']:.2f} ms | p95 < 5 ms at 10,000,000 |")  # fmt: skip
    print(f"| consistency proof from stored nodes, tree of {proofs['leaves']:,} | p50 {proofs['consistency_p50']:.2f} ms, "
          f"p95 {proofs['consistency_p95']:.2f} ms | — |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
