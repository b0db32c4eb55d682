"""The decision endpoint in process: CPU per decision and SQL statements per decision, by outcome.

No HTTP server and no Cerbos: the Django test client posts the same action mix as bench_decisions.py
to POST /api/v1/decisions against a real PostgreSQL, so the figures isolate the portal's own Python
and its round trips, and stay comparable on a busy machine (process CPU time, not wall time).

    .venv/bin/python bench/bench_decision_path.py [--requests 2000] [--database-url ...]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_decisions import REPOSITORY, action_mix, bench_env, cavra_body  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=2000, help="measured requests (after 200 warm-up)")
    ap.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/cavra_bench_path")
    ap.add_argument("--show-sql", action="store_true", help="print the statements of one allow and one block")
    args = ap.parse_args()
    db_name = args.database_url.rsplit("/", 1)[1]
    os.environ.update(bench_env(args.database_url))
    import psycopg

    with psycopg.connect(args.database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as pg:
        pg.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        pg.execute(f'CREATE DATABASE "{db_name}"')
    import django

    django.setup()
    from io import StringIO

    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from policies.services import policy_pack_install_bundled, rollout_set
    from tenants.services import tenant_create

    call_command("migrate", "--noinput", verbosity=0)
    tenant = tenant_create(slug="bench", name="Benchmark")
    version = policy_pack_install_bundled(tenant=tenant, pack_id="baseline", actor=None)
    rollout_set(tenant=tenant, version=version, mode="enforce", actor=None)
    out = StringIO()
    call_command(
        "cavra_agent_token",
        "--tenant",
        "bench",
        "--agent",
        "bench-agent",
        "--profile",
        "claude-code",
        stdout=out,
    )
    token = out.getvalue().strip()
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")
    session = client.post(
        "/api/v1/sessions", json.dumps({"repository": REPOSITORY}), content_type="application/json"
    )
    session_id = session.json()["session_id"]
    bodies = [cavra_body(spec, session_id) for spec in action_mix()]

    def post(body):
        return client.post("/api/v1/decisions", body, content_type="application/json")

    for body in bodies:  # warm-up: caches, compiled policy, connection
        assert post(body).status_code == 200
    queries: dict[str, list[int]] = defaultdict(list)
    for body in bodies:
        with CaptureQueriesContext(connection) as captured:
            verdict = post(body).json()["decision"]
        queries[verdict].append(len(captured))
        if args.show_sql and len(queries[verdict]) == 1 and verdict != "require_approval":
            print(f"-- {verdict}:", *(q["sql"][:160] for q in captured.captured_queries), sep="\n   ")
    # Function calls are deterministic: a load-independent measure of the Python work per decision.
    profiler = cProfile.Profile()
    profiler.enable()
    for body in bodies:
        post(body)
    profiler.disable()
    calls = pstats.Stats(profiler).total_calls / len(bodies)
    outcomes: Counter = Counter()
    cpu: list[float] = []
    for i in range(args.requests):
        started = time.process_time()
        response = post(bodies[i % len(bodies)])
        cpu.append((time.process_time() - started) * 1000)
        outcomes[response.json()["decision"]] += 1
    cpu.sort()
    print(f"requests {args.requests}  outcomes {dict(outcomes)}")
    print(
        f"process CPU per decision: mean {statistics.fmean(cpu):.3f} ms, median {statistics.median(cpu):.3f} ms, "
        f"p90 {cpu[int(len(cpu) * 0.9)]:.3f} ms"
    )
    print(f"Python function calls per decision: {calls:.0f}")
    for verdict, counts in sorted(queries.items()):
        print(f"SQL statements per {verdict}: {sorted(Counter(counts).items())}")
    connection.close()
    with psycopg.connect(args.database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as pg:
        pg.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
