"""Evidence benchmarks: chain append throughput (8 writers, PostgreSQL) and offline bundle verification.

    .venv/bin/python bench/bench_evidence.py [--writers 8] [--appends 1000] [--records 1000000] [--write-doc]

Appends go into one tenant's chain from separate processes, one transaction per append (as a
decision would); the chain is verified afterwards. The bundle is generated with the real writer
and verified by the same code as `cavra evidence verify`. --write-doc replaces the "## Evidence"
section of docs/benchmarks.md with the results.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DB_NAME = "cavra_bench_evidence"


def _django(db_url: str) -> None:
    os.environ["DATABASE_URL"] = db_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cavra_portal.settings_test")
    import django

    django.setup()


def _writer(db_url: str, tenant_id: int, count: int, start_at: float, synchronous_commit: str) -> None:
    _django(db_url)
    from django.db import connection, transaction

    from evidence.services import evidence_append
    from tenants.models import Tenant

    tenant = Tenant.objects.get(pk=tenant_id)
    payload = {"action": "execute_command", "target": "pytest -q", "decision": "allow", "rule_id": "commands.allow",
               "severity": "low", "agent": "agt_bench", "repository": "acme/api", "session": "ses_bench"}  # fmt: skip
    with transaction.atomic():  # warm the connection before the clock starts
        Tenant.objects.filter(pk=tenant_id).exists()
    with connection.cursor() as cursor:
        cursor.execute(f"SET synchronous_commit = {synchronous_commit}")
    while time.time() < start_at:
        time.sleep(0.001)
    for i in range(count):
        with transaction.atomic():
            evidence_append(
                tenant=tenant, kind="decision.recorded", subject=f"dec_bench_{i}", payload={**payload, "i": i}
            )


def bench_appends(writers: int, appends: int, base_url: str, synchronous_commit: str = "on") -> dict:
    import psycopg

    admin_url = base_url.rsplit("/", 1)[0] + "/postgres"
    if "django" in sys.modules and sys.modules["django"].apps.apps.ready:
        from django.db import connections

        connections.close_all()  # the previous round's connection, before its database is dropped
    with psycopg.connect(admin_url, autocommit=True) as conn:
        # A fresh database every run: the schema follows the code, and old chains do not skew the numbers.
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    db_url = base_url.rsplit("/", 1)[0] + "/" + DB_NAME
    _django(db_url)
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", verbosity=0)
    from evidence.services import chain_verify
    from tenants.models import Tenant

    tenant = Tenant.objects.create(slug=f"bench-{os.getpid()}-{time.time_ns() % 10**9}", name="Bench")
    connections.close_all()
    start_at = time.time() + 2.0
    context = multiprocessing.get_context("spawn")
    procs = [
        context.Process(target=_writer, args=(db_url, tenant.pk, appends, start_at, synchronous_commit))
        for _ in range(writers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    elapsed = time.time() - start_at
    assert all(p.exitcode == 0 for p in procs), "a writer failed"
    run = chain_verify(tenant=tenant)
    assert run.ok and run.records_checked == writers * appends, run.summary
    sync = synchronous_commit
    with connections["default"].cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    return {"writers": writers, "appends": writers * appends, "seconds": elapsed, "per_second": writers * appends / elapsed,
            "verified": run.ok, "postgres": version, "synchronous_commit": sync}  # fmt: skip


def bench_verify(records: int) -> dict:
    from cavra_engine.evidence.synthetic import synthetic_bundle
    from cavra_engine.evidence.verify import verify_file

    started = time.perf_counter()
    data, _ = synthetic_bundle(records, checkpoint_every=10_000)
    built = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bundle.zip"
        path.write_bytes(data)
        del data
        started = time.perf_counter()
        report = verify_file(path)
        elapsed = time.perf_counter() - started
        size = path.stat().st_size
    assert report.ok, report.problems[:3]
    return {
        "records": records,
        "bytes": size,
        "seconds": elapsed,
        "per_second": records / elapsed,
        "build_seconds": built,
    }


def write_doc(text: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    start = current.find("## Evidence")
    if start == -1:
        current = current.rstrip("\n") + "\n\n" + text
    else:
        end = current.find("\n## ", start + 1)
        current = current[:start] + text + (current[end + 1 :] if end != -1 else "")
    path.write_text(current)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--appends", type=int, default=500, help="per writer")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cavra")
    )
    parser.add_argument("--write-doc", action="store_true")
    args = parser.parse_args()

    appends = bench_appends(args.writers, args.appends, args.database_url, "on")
    relaxed = bench_appends(args.writers, args.appends, args.database_url, "off")
    for r in (appends, relaxed):
        print(f"append (synchronous_commit={r['synchronous_commit']}): {r['appends']} appends from {r['writers']} writers "
              f"in {r['seconds']:.2f}s = {r['per_second']:.0f}/s (target >= 2000/s), chain verified: {r['verified']}")  # fmt: skip
    verify = bench_verify(args.records)
    print(f"verify: {verify['records']} records ({verify['bytes'] / 1e6:.0f} MB) in {verify['seconds']:.2f}s "
          f"= {verify['per_second']:.0f} records/s (target >= 100000/s)")  # fmt: skip
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    machine = (f"{platform.node()}, {platform.machine()}, {os.cpu_count()} CPUs (load average at the end {load}), "
               f"Python {platform.python_version()}, PostgreSQL {appends['postgres']} on the same machine")  # fmt: skip
    text = f"""## Evidence

Command: `.venv/bin/python bench/bench_evidence.py --write-doc` (defaults: 8 writers x 500 appends, 1,000,000-record bundle).
Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine}.

| benchmark | result | target |
|---|---|---|
| append into one tenant's chain, {appends["writers"]} concurrent writer processes, one transaction per append, durable commits | {appends["per_second"]:,.0f} appends/s ({appends["appends"]:,} in {appends["seconds"]:.2f}s; chain verified afterwards) | >= 2,000/s |
| the same with `synchronous_commit=off` in the writers (commit does not wait for the WAL flush) | {relaxed["per_second"]:,.0f} appends/s ({relaxed["appends"]:,} in {relaxed["seconds"]:.2f}s; verified) | >= 2,000/s |
| offline verification of a {verify["records"]:,}-record bundle ({verify["bytes"] / 1e6:,.0f} MB) | {verify["per_second"]:,.0f} records/s ({verify["seconds"]:.2f}s) | >= 100,000/s |

Appends are serialised per tenant by the chain-head row lock, held from the first statement until commit.
That commit does not wait for the WAL flush (synchronous_commit off for the append transaction only); the
writer then waits for durability outside the lock (a tiny transaction with synchronous_commit on, which
returns once the WAL is flushed past the evidence), so concurrent writers share flushes instead of
queueing one fsync each behind the lock. That is why the two rows are now alike: what bounds one tenant's
chain here is the lock hold time, i.e. about three round trips to PostgreSQL (lock-and-advance, insert,
commit, at roughly 0.3-0.5 ms each on this VM) plus the CPU of 8 writer processes on 2 cores. Reaching
2,000/s needs a hold time under 0.5 ms: computing the hash inside the locking statement (one round trip
plus commit) and a faster machine. Verification (spread over all CPUs with fork) is strict for every
record: parse with integer checks, re-serialise to RFC 8785 and compare bytes, check every member's type
and pattern, hash the canonical form without `hash`, link; the fast path that hashed the line text as
written (and so accepted non-canonical lines, issue 15) is gone. The Merkle log adds nothing to appends
(the tree grows at checkpoint time), so the append rows are unaffected by it.

"""
    if args.write_doc:
        write_doc(text)
        print("docs/benchmarks.md: Evidence section written")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
