"""Benchmark: which server and worker model serves POST /api/v1/decisions best, measured on one action mix.

One command (`make bench-workers`), from the repository root:

    .venv/bin/python bench/bench_workers.py [--duration 15] [--rounds 1] [--only gthread-2x4 granian-wsgi-2x4]
    .venv/bin/python bench/bench_workers.py --flamegraph docs/flamegraph-decisions.svg   # py-spy, see below

What it does, and undoes:
  1. creates the PostgreSQL database `cavra_bench_workers` (dropped at the end unless --keep-db), migrates
     it and sets up the tenant, pack, agent and sessions of bench_decisions.py; starts one `cavra_sequencer`;
  2. for each server model in turn (127.0.0.1, ports 18320-18339): gunicorn sync with one worker per CPU
     and with two, gunicorn gthread 2 workers x 4 threads (the default until issue 17), granian (Rust HTTP
     front, WSGI interface, 2 workers x 4 blocking threads) and uvicorn (ASGI through Django's
     ASGIHandler, 2 workers); warm-up at concurrency 8, then concurrency 1 and 8, each phase bounded by
     --duration and --requests, with bench_decisions.py's generator (one process per connection);
  3. server CPU per decision: user + system CPU of the server's process tree, of the PostgreSQL backends
     serving the database and of the sequencer during the phase, divided by the decisions answered;
  4. checks decisions answered == Decision rows == decision evidence records and verifies the chain; writes
     the "## Worker models" section of docs/benchmarks.md (--no-docs to skip).
With --rounds N the models run N times in alternating order and the table keeps each model's best c8 round
(the machine is shared; the order alternates so that no model always runs first).

--flamegraph PATH: instead of the comparison, serve with gunicorn gthread 2x4 (or --flame-model), drive
concurrency 8 for --flame-seconds (20) and record the workers with `py-spy record --format flamegraph
--subprocesses --nonblocking` (py-spy from PyPI, in the dev extra); writes the SVG to PATH. Idle threads
(waiting on a socket, i.e. on PostgreSQL or the client) are left out: the graph shows where CPU goes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_decisions import (  # noqa: E402 - the sibling benchmark is the one place for this set-up
    CACHE,
    ROOT,
    action_mix,
    bench_env,
    cavra_body,
    cpu_delta,
    run_load,
    server_cpu,
    setup_bench_tenant,
    stop,
    wait_http,
    write_section,
)

SECTION = "## Worker models (make bench-workers)"
PORTS = range(18320, 18340)
APP = "cavra_portal.wsgi:application"


def models(cpus: int) -> dict[str, tuple[str, list[str]]]:
    """name -> (description, argv after the venv's bin/)."""
    gunicorn = ["gunicorn", APP, "--log-level", "warning", "--graceful-timeout", "5"]
    return {
        f"sync-{cpus}": (
            f"gunicorn sync, {cpus} workers (one per CPU)",
            [*gunicorn, "--worker-class", "sync", "--workers", str(cpus)],
        ),
        f"sync-{2 * cpus}": (
            f"gunicorn sync, {2 * cpus} workers (two per CPU)",
            [*gunicorn, "--worker-class", "sync", "--workers", str(2 * cpus)],
        ),
        "gthread-2x4": (
            "gunicorn gthread, 2 workers x 4 threads (the default until issue 17)",
            [*gunicorn, "--worker-class", "gthread", "--workers", "2", "--threads", "4"],
        ),
        "granian-wsgi-2x4": (
            "granian (Rust HTTP server), WSGI, 2 workers x 4 blocking threads",
            [
                "granian",
                "--interface",
                "wsgi",
                "--workers",
                "2",
                "--blocking-threads",
                "4",
                "--runtime-threads",
                "1",
                "--no-access-log",
                "--log-level",
                "warning",
                APP,
            ],
        ),
        "uvicorn-asgi-2": (
            "uvicorn, ASGI (Django's ASGIHandler; sync views run in its thread), 2 workers",
            [
                "uvicorn",
                "--factory",
                "django.core.asgi:get_asgi_application",
                "--workers",
                "2",
                "--log-level",
                "warning",
                "--no-access-log",
            ],
        ),
    }


def bind_args(argv: list[str], port: int) -> list[str]:
    if argv[0] == "gunicorn":
        return [*argv, "--bind", f"127.0.0.1:{port}"]
    return [argv[0], "--host", "127.0.0.1", "--port", str(port), *argv[1:]]


def start_server(python: str, argv: list[str], port: int, env: dict, log: Path) -> subprocess.Popen:
    binary = str(Path(python).parent / argv[0])
    proc = subprocess.Popen(
        [binary, *bind_args(argv, port)[1:]],
        cwd=ROOT,
        env=env,
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_http(port, "/api/v1/health", proc, argv[0], timeout=90)
    return proc


def free_bench_port() -> int:
    import socket

    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


def main() -> int:  # noqa: PLR0915 - one scenario, read top to bottom
    cpus = os.cpu_count() or 2
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=15.0, help="seconds per measured phase")
    ap.add_argument("--requests", type=int, default=50000, help="max requests per measured phase")
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--only", nargs="+", help=f"models to run (of {', '.join(models(cpus))})")
    ap.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/cavra_bench_workers")
    ap.add_argument("--keep-db", action="store_true")
    ap.add_argument("--no-docs", action="store_true")
    ap.add_argument(
        "--quiet-wait", type=float, default=60.0, help="wait up to this long for load < --quiet-load"
    )
    ap.add_argument("--quiet-load", type=float, default=1.0)
    ap.add_argument("--flamegraph", type=Path, help="record a py-spy flame graph to this SVG instead")
    ap.add_argument("--flame-model", default="gthread-2x4")
    ap.add_argument("--flame-seconds", type=int, default=20)
    ap.add_argument("--flame-rate", type=int, default=50, help="py-spy samples per second per process")
    args = ap.parse_args()

    catalogue = models(cpus)
    chosen = args.only or list(catalogue)
    unknown = [m for m in chosen if m not in catalogue]
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}; known: {list(catalogue)}")
    db_name = args.database_url.rsplit("/", 1)[1]
    admin_url = args.database_url.rsplit("/", 1)[0] + "/postgres"
    env = dict(os.environ, **bench_env(args.database_url))
    os.environ.update(env)
    python = sys.executable
    logs = CACHE / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as pg:
        pg.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        pg.execute(f'CREATE DATABASE "{db_name}"')
    sequencer = server = None
    try:
        print(f"migrating {db_name} ...", flush=True)
        subprocess.run(
            [python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
        )
        import django

        django.setup()
        from django.db import connection

        from evidence.models import Decision, EvidenceLeaf, EvidenceRecord
        from evidence.services import chain_verify

        tenant, _agent, token, sessions = setup_bench_tenant(python, env, 8)
        connection.close()
        bodies = [[cavra_body(s, sid) for s in action_mix()] for sid in sessions]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        sequencer = subprocess.Popen(
            [python, "manage.py", "cavra_sequencer"],
            cwd=ROOT,
            env=env,
            stdout=open(logs / "workers-sequencer.log", "ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def load(port, concurrency, duration, probe=None):
            return run_load(
                kind="cavra",
                port=port,
                path="/api/v1/decisions",
                headers=headers,
                bodies_per_conn=bodies,
                concurrency=concurrency,
                duration=duration,
                max_requests=args.requests,
                cpu_probe=probe,
            )

        answered = 0
        if args.flamegraph:
            answered += flamegraph(args, catalogue, python, env, logs, load)
            results, load_before, load_after = {}, os.getloadavg(), os.getloadavg()
        else:
            waited = time.monotonic()
            while os.getloadavg()[0] >= args.quiet_load and time.monotonic() - waited < args.quiet_wait:
                time.sleep(5)
            load_before = os.getloadavg()
            print(f"load average {load_before} (waited {time.monotonic() - waited:.0f} s)", flush=True)
            results: dict[str, list[dict]] = {m: [] for m in chosen}
            for rnd in range(args.rounds):
                order = chosen if rnd % 2 == 0 else list(reversed(chosen))
                for name in order:
                    port = free_bench_port()
                    server = start_server(python, catalogue[name][1], port, env, logs / f"workers-{name}.log")
                    pid = server.pid

                    snaps: list[dict] = []

                    def probe(pid=pid, snaps=snaps):
                        snap = {
                            "server": server_cpu(pid),
                            "postgres": server_cpu(-1, db_name),
                            "sequencer": server_cpu(sequencer.pid),
                        }
                        snaps.append(snap)
                        return {pid: cpu for part in snap.values() for pid, cpu in part.items()}

                    answered += load(port, 8, args.warmup)["answered"]
                    for c in (1, 8):
                        r = load(port, c, args.duration, probe)
                        answered += r["answered"]
                        r.update(model=name, round=rnd, load=os.getloadavg()[0])
                        r["cpu_parts"] = {
                            part: cpu_delta(snaps[-2][part], snaps[-1][part]) * 1000 / max(r["answered"], 1)
                            for part in snaps[-1]
                        }
                        results[name].append(r)
                        print(
                            f"{name:18} c={c}: {r['answered']:6} answered, {r['errors']} errors, {r['rps']:6.0f}/s, "
                            f"p50 {r['p50']:6.2f} ms, p99 {r['p99']:7.2f} ms, server CPU {r['cpu_ms']:.2f} ms/decision "
                            f"({', '.join(f'{k} {v:.2f}' for k, v in r['cpu_parts'].items())}; load {r['load']:.1f})",
                            flush=True,
                        )
                    stop(server)
                    server = None
            load_after = os.getloadavg()

        waited_for = time.monotonic()
        while EvidenceLeaf.objects.filter(tenant=tenant).exists() and time.monotonic() - waited_for < 120:
            time.sleep(0.1)
        stop(sequencer)
        sequencer = None
        decisions = Decision.objects.filter(tenant=tenant).count()
        evidence = EvidenceRecord.objects.filter(tenant=tenant, kind="decision.recorded").count()
        pending = EvidenceLeaf.objects.filter(tenant=tenant).count()
        run = chain_verify(tenant=tenant)
        match = answered == decisions == evidence and pending == 0
        summary = (
            f"answered {answered} = Decision rows {decisions} = decision records {evidence}: "
            f"{'yes' if match else 'NO'} (leaves pending {pending}); chain {run.summary}"
        )
        print(summary, flush=True)
        connection.close()
        if results and not args.no_docs:
            write_section(render(args, catalogue, results, summary, (load_before, load_after)), SECTION)
            print(f"wrote the '{SECTION}' section of docs/benchmarks.md", flush=True)
        return 0 if match and run.ok else 1
    finally:
        stop(server)
        stop(sequencer)
        if not args.keep_db:
            try:
                from django.db import connections

                connections.close_all()
            except Exception:  # noqa: BLE001 - Django may not have been set up
                pass
            with psycopg.connect(admin_url, autocommit=True) as pg:
                pg.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


def flamegraph(args, catalogue, python, env, logs, load) -> int:
    """py-spy on the server's workers while concurrency 8 runs; returns the decisions answered."""
    port = free_bench_port()
    server = start_server(python, catalogue[args.flame_model][1], port, env, logs / "flamegraph-server.log")
    try:
        answered = load(port, 8, 3.0)["answered"]  # warm-up: imports, caches, connections
        out = args.flamegraph.resolve()
        out.parent.mkdir(parents=True, exist_ok=True)
        spy = [
            str(Path(python).parent / "py-spy"),
            "record",
            "--format",
            "flamegraph",
            "--output",
            str(out),
            "--pid",
            str(server.pid),
            "--subprocesses",
            "--rate",
            str(args.flame_rate),
            "--nonblocking",
            "--duration",
            str(args.flame_seconds),
        ]
        print(" ".join(spy), flush=True)
        recorder = subprocess.Popen(spy, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        result = {}
        driver = threading.Thread(
            target=lambda: result.update(load(port, 8, args.flame_seconds + 2)), daemon=True
        )
        time.sleep(1.0)  # py-spy attaches
        driver.start()
        output, _ = recorder.communicate(timeout=args.flame_seconds + 120)
        driver.join(timeout=args.flame_seconds + 180)
        print(output.strip()[-2000:], flush=True)
        if recorder.returncode != 0 or not out.exists():
            raise SystemExit(f"py-spy failed ({recorder.returncode})")
        answered += result.get("answered", 0)
        print(
            f"flame graph {out}: {args.flame_model} at concurrency 8, {result.get('rps', 0):.0f} decisions/s "
            f"while recorded (py-spy slows the workers), load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        return answered
    finally:
        stop(server)


def render(args, catalogue, results, summary, load) -> str:
    def best(rows, c):
        at = [r for r in rows if r["concurrency"] == c]
        return max(at, key=lambda r: r["rps"]) if at else None

    def parts(r):
        p = r["cpu_parts"]
        return f"{p['server']:.2f} + {p['postgres']:.2f} + {p['sequencer']:.2f}"

    lines = []
    for name, rows in results.items():
        c1, c8 = best(rows, 1), best(rows, 8)
        if not (c1 and c8):
            continue
        lines.append(
            f"| {catalogue[name][0]} | {c1['rps']:.0f} | {c1['p50']:.2f} | {c1['p99']:.2f} | {c8['rps']:.0f} | "
            f"{c8['p50']:.2f} | {c8['p99']:.2f} | {c8['cpu_ms']:.2f} ({parts(c8)}) | {c8['errors']} |"
        )
    only = f" --only {' '.join(args.only)}" if args.only else ""
    return f"""{SECTION}

Produced by `.venv/bin/python bench/bench_workers.py --duration {args.duration:g} --rounds {args.rounds}{only}`
on {datetime.now(UTC):%Y-%m-%d %H:%M UTC}, {os.cpu_count()} CPUs shared by the servers, PostgreSQL, the sequencer
and the load generator; 1/5/15-minute load average before {load[0][0]:.2f}/{load[0][1]:.2f}/{load[0][2]:.2f},
after {load[1][0]:.2f}/{load[1][1]:.2f}/{load[1][2]:.2f} (other sessions share the machine). Same action mix,
generator and evidence as `bench_decisions.py` (80% allow, 17% block, 3% require_approval; every answer a
durable Decision and leaf). Server CPU per decision at concurrency 8 = CPU of the server's processes + the
PostgreSQL backends of the database + the sequencer, over the decisions answered. With several rounds, each
model's best round is shown.

| server model | c1 decisions/s | c1 p50 ms | c1 p99 ms | c8 decisions/s | c8 p50 ms | c8 p99 ms | server CPU ms/decision at c8 (server + PostgreSQL backends + sequencer) | c8 errors |
|---|---|---|---|---|---|---|---|---|
{chr(10).join(lines)}

Check after the run: {summary}.
"""


if __name__ == "__main__":
    sys.exit(main())
