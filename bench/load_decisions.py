"""Load and fault test of the decision path: a bounded soak, kill -9 of a web worker and of the sequencer,
then PostgreSQL restarted mid-load.

One command (`make test-load`), from the repository root:

    .venv/bin/python bench/load_decisions.py [--decisions 5000] [--fault-decisions 3000] [--concurrency 8]

What it does, and undoes:
  1. starts a PostgreSQL server of its own (bench/pg_instance.py: initdb once into
     bench/.cache/pg-<port>/, 127.0.0.1:--pg-port, never the machine's shared server, which it must
     not restart), creates the database `cavra_load` (dropped at the end unless --keep-db, the server
     stopped), migrates it and sets up the benchmark tenant of bench_decisions.py;
  2. starts gunicorn (2 gthread workers x 4 threads, PROMETHEUS_MULTIPROC_DIR set, METRICS_TOKEN) and a
     real `manage.py cavra_sequencer`, both on 127.0.0.1, CAVRA_EVIDENCE_SEQUENCER=process;
  3. soak: --decisions decisions at --concurrency, sampling the workers' RSS every second; every 200
     answer must carry allow/block/require_approval and a decision id, no 500, no other status;
  4. faults: --fault-decisions more at the same concurrency; a third of the way in one gunicorn worker
     and the sequencer get SIGKILL (the sequencer is restarted 2 s later, gunicorn respawns its worker).
     Every answer must be 200 allow/block/require_approval or 503 with "decision": "block"; a
     connection reset by the dying worker is counted (an agent treats it as block), never a 500;
  5. PostgreSQL restarted: --restart-decisions more; a third of the way in `pg_ctl restart -m fast`
     (--pg-restart-mode immediate: a crash and recovery) cuts every connection of the web workers and
     the sequencer. Answers during the outage must be 503 with "decision": "block" (never an allow,
     never a 500 page); the workers and the sequencer reconnect by themselves afterwards;
  6. after the backlog drains: every answered decision id is exactly one Decision row with exactly one
     integrated `decision.recorded` record; Decision rows = decision records; no leaf pending; the chain
     verifies; the /metrics counters (aggregated over all processes) agree with the answers.
Every phase is bounded (a client stops at 60 s + 0.1 s per decision of its phase; a phase cut short
fails the run). Exits 1 when any check fails. Results go to the "## Load and faults" section of docs/benchmarks.md
(--no-docs to skip). The issue's full soak is 200,000 decisions: `make test-load LOAD_DECISIONS=200000`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_decisions import (  # noqa: E402 - the sibling benchmark is the one place for this set-up
    CACHE,
    ROOT,
    action_mix,
    bench_env,
    cavra_body,
    free_port,
    gunicorn_command,
    setup_bench_tenant,
    stop,
    wait_http,
    write_section,
)
from pg_instance import PgInstance  # noqa: E402

SECTION = "## Load and faults (make test-load)"
VERDICTS = ("allow", "block", "require_approval")


def _client(port, headers, bodies, offset, count, deadline, out):
    """Send `count` decisions; report (status, verdict, decision_id) per request, None status on a reset.

    Stops early at `deadline` (time.monotonic()), so a phase never runs unbounded."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    answers = []
    for i in range(count):
        if time.monotonic() > deadline:
            break
        try:
            conn.request("POST", "/api/v1/decisions", bodies[(offset + i) % len(bodies)], headers)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            answers.append((None, None, None, time.monotonic()))
            continue
        try:
            body = json.loads(data)
        except ValueError:
            body = {}
        answers.append((resp.status, body.get("decision"), body.get("decision_id"), time.monotonic()))
    conn.close()
    out.put(answers)


def phase_limit(total: int) -> float:
    """Seconds a phase of `total` decisions may take: 60 s plus a floor of 10 decisions/s."""
    return 60.0 + total / 10.0


def drive(port, headers, bodies_per_conn, total, concurrency, during=None) -> tuple[list, float]:
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    deadline = time.monotonic() + phase_limit(total)
    procs = [
        ctx.Process(
            target=_client,
            args=(
                port,
                headers,
                bodies_per_conn[k % len(bodies_per_conn)],
                k * 37,
                total // concurrency,
                deadline,
                out,
            ),
            daemon=True,
        )
        for k in range(concurrency)
    ]
    started = time.monotonic()
    for p in procs:
        p.start()
    if during:
        during()
    answers = [a for _ in procs for a in out.get(timeout=phase_limit(total) + 60)]
    for p in procs:
        p.join(timeout=30)
    return answers, time.monotonic() - started


def cut_short(answers, total, concurrency) -> str | None:
    expected = (total // concurrency) * concurrency
    if len(answers) < expected:
        return f"{len(answers)} of {expected} requests sent within {phase_limit(total):.0f} s"
    return None


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class RssSampler(threading.Thread):
    def __init__(self, master: int):
        super().__init__(daemon=True)
        self.master, self.samples, self.stopping = master, [], threading.Event()

    def run(self):
        while not self.stopping.wait(1.0):
            self.samples.append(sum(rss_mib(p) for p in children(self.master)))


def classify(answers, *, fault: bool) -> tuple[Counter, list[str]]:
    kinds, problems = Counter(), []
    for status, verdict, decision_id, _at in answers:
        if status == 200 and verdict in VERDICTS and decision_id:
            kinds[verdict] += 1
        elif fault and status == 503 and verdict == "block":
            kinds["503 block"] += 1
        elif fault and status is None:
            kinds["connection reset"] += 1
        else:
            kinds[f"bad {status} {verdict}"] += 1
            if len(problems) < 5:
                problems.append(f"status {status}, decision {verdict!r}, id {decision_id!r}")
    return kinds, problems


def scrape(port: int, token: str) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {token}"})
    resp = conn.getresponse()
    text = resp.read().decode()
    if resp.status != 200:
        raise SystemExit(f"/metrics answered {resp.status}")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def start_sequencer(python, env, log):
    return subprocess.Popen(
        [python, "manage.py", "cavra_sequencer"],
        cwd=ROOT,
        env=env,
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def main() -> int:  # noqa: PLR0915 - one scenario, read top to bottom
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--decisions", type=int, default=5000, help="soak decisions (the issue's full: 200000)")
    ap.add_argument("--fault-decisions", type=int, default=3000, help="decisions of the kill -9 phase")
    ap.add_argument(
        "--restart-decisions",
        type=int,
        default=3000,
        help="decisions of the PostgreSQL restart phase (0: skip)",
    )
    ap.add_argument("--pg-restart-mode", choices=["fast", "immediate"], default="fast")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--pg-port", type=int, default=18310, help="port of the test's own PostgreSQL server")
    ap.add_argument(
        "--pg-dir", type=Path, default=None, help="its cluster directory (bench/.cache/pg-<port>)"
    )
    ap.add_argument("--db-name", default="cavra_load")
    ap.add_argument("--keep-db", action="store_true", help="keep the database (the server is stopped anyway)")
    ap.add_argument("--no-docs", action="store_true")
    args = ap.parse_args()

    pg_server = PgInstance(args.pg_dir or CACHE / f"pg-{args.pg_port}", args.pg_port)
    print(f"PostgreSQL of the load test: {pg_server.data} on 127.0.0.1:{args.pg_port}", flush=True)
    pg_server.start()
    db_name = args.db_name
    database_url = pg_server.url(db_name)
    admin_url = pg_server.url("postgres")
    metrics_dir = tempfile.mkdtemp(prefix="cavra-load-metrics-")
    token_m = "load-" + os.urandom(12).hex()
    env = dict(
        os.environ,
        **bench_env(database_url),
        PROMETHEUS_MULTIPROC_DIR=metrics_dir,
        METRICS_TOKEN=token_m,
    )
    os.environ.update(env)
    python = sys.executable
    logs = CACHE / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as pg:
        pg.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        pg.execute(f'CREATE DATABASE "{db_name}"')
    gunicorn_proc = sequencer_proc = None
    failures: list[str] = []
    try:
        print(f"migrating {db_name} ...", flush=True)
        subprocess.run(
            [python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
        )
        import django

        django.setup()
        from django.db import connection

        from evidence.kinds import DECISION_RECORDED
        from evidence.models import Decision, EvidenceLeaf, EvidenceRecord
        from evidence.services import chain_verify
        from evidence.services.sequencer import sequencer_backlog

        tenant, _agent, token, sessions = setup_bench_tenant(python, env, args.concurrency)
        connection.close()
        bodies = [[cavra_body(s, sid) for s in action_mix()] for sid in sessions]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

        port = free_port()
        gunicorn_proc = subprocess.Popen(
            gunicorn_command(python, port, args.workers, "gthread", args.threads, logs / "load-gunicorn.log"),
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        sequencer_proc = start_sequencer(python, env, logs / "load-sequencer.log")
        wait_http(port, "/api/v1/health", gunicorn_proc, "gunicorn")
        load_before = os.getloadavg()

        # 1. soak
        sampler = RssSampler(gunicorn_proc.pid)
        sampler.start()
        soak, soak_wall = drive(port, headers, bodies, args.decisions, args.concurrency)
        sampler.stopping.set()
        sampler.join()
        soak_kinds, soak_problems = classify(soak, fault=False)
        failures += [f"soak: {p}" for p in soak_problems]
        if short := cut_short(soak, args.decisions, args.concurrency):
            failures.append(f"soak cut short: {short}")
        rss = sampler.samples or [0.0]
        quarter = max(1, len(rss) // 4)
        rss_first, rss_last = sum(rss[:quarter]) / quarter, sum(rss[-quarter:]) / quarter
        print(
            f"soak: {len(soak)} in {soak_wall:.1f}s, {dict(soak_kinds)}; RSS {rss_first:.0f} -> {rss_last:.0f} MiB"
        )
        if rss_last > rss_first * 1.25 + 20:
            failures.append(f"worker RSS grew {rss_first:.0f} -> {rss_last:.0f} MiB")

        # 2. faults
        killed = {}

        def faults():
            nonlocal sequencer_proc
            time.sleep(max(1.0, soak_wall * args.fault_decisions / max(args.decisions, 1) / 3))
            victim = children(gunicorn_proc.pid)[0]
            os.kill(victim, signal.SIGKILL)
            os.killpg(sequencer_proc.pid, signal.SIGKILL)
            sequencer_proc.wait()
            killed.update(worker=victim, sequencer=sequencer_proc.pid, at=time.monotonic())
            time.sleep(2.0)
            sequencer_proc = start_sequencer(python, env, logs / "load-sequencer.log")

        fault, fault_wall = drive(
            port, headers, bodies, args.fault_decisions, args.concurrency, during=faults
        )
        fault_kinds, fault_problems = classify(fault, fault=True)
        failures += [f"faults: {p}" for p in fault_problems]
        if "worker" not in killed:
            failures.append("the faults were not injected")
        if short := cut_short(fault, args.fault_decisions, args.concurrency):
            failures.append(f"kill -9 phase cut short: {short}")
        print(f"faults: {len(fault)} in {fault_wall:.1f}s, {dict(fault_kinds)}; killed {killed}", flush=True)

        # 3. PostgreSQL restarted mid-load (every connection of the workers and the sequencer is cut)
        restart, restart_wall, restart_kinds, outage = [], 0.0, Counter(), {}
        if args.restart_decisions:

            def pg_restart():
                time.sleep(max(1.0, soak_wall * args.restart_decisions / max(args.decisions, 1) / 3))
                outage["at"] = time.monotonic()
                outage["restart_s"] = pg_server.restart(args.pg_restart_mode)

            restart, restart_wall = drive(
                port, headers, bodies, args.restart_decisions, args.concurrency, during=pg_restart
            )
            restart_kinds, restart_problems = classify(restart, fault=True)
            failures += [f"PostgreSQL restart: {p}" for p in restart_problems]
            if short := cut_short(restart, args.restart_decisions, args.concurrency):
                failures.append(f"PostgreSQL restart phase cut short: {short}")
            if "restart_s" not in outage:
                failures.append("PostgreSQL was not restarted")
            else:
                not_ok = sorted(a[3] - outage["at"] for a in restart if a[0] != 200)
                outage["first"], outage["last"] = (not_ok[0], not_ok[-1]) if not_ok else (None, None)
                if not_ok and not_ok[-1] > outage["restart_s"] + 10:
                    failures.append(f"still failing {not_ok[-1]:.1f} s after the restart began")
            if sequencer_proc.poll() is not None:
                failures.append(
                    f"the sequencer exited ({sequencer_proc.returncode}) when PostgreSQL restarted"
                )
            print(
                f"PostgreSQL restart ({args.pg_restart_mode}): {len(restart)} in {restart_wall:.1f}s, "
                f"{dict(restart_kinds)}; {outage}",
                flush=True,
            )

        # 4. afterwards: drain, then exact counts and the chain
        drained_at = time.monotonic()
        while sequencer_backlog() and time.monotonic() - drained_at < 120:
            time.sleep(0.2)
        drain_s = time.monotonic() - drained_at
        answered_ids = [a[2] for a in soak + fault + restart if a[0] == 200 and a[2]]
        decisions = Decision.objects.filter(tenant=tenant)
        rows = decisions.count()
        decision_records = EvidenceRecord.objects.filter(tenant=tenant, kind=DECISION_RECORDED).count()
        found = set(decisions.filter(public_id__in=answered_ids).values_list("public_id", flat=True))
        unlinked = decisions.filter(evidence__isnull=True).count()
        per_answer = Counter(
            EvidenceRecord.objects.filter(tenant=tenant, kind=DECISION_RECORDED, subject__in=answered_ids)
            .values_list("subject", flat=True)
            .iterator()
        )
        pending = EvidenceLeaf.objects.count()
        verify = chain_verify(tenant=tenant)
        resets = fault_kinds["connection reset"] + restart_kinds["connection reset"]
        if len(set(answered_ids)) != len(answered_ids):
            failures.append("a decision id was answered twice")
        if len(found) != len(set(answered_ids)):
            failures.append(f"{len(set(answered_ids)) - len(found)} answered decisions have no Decision row")
        if any(per_answer[i] != 1 for i in answered_ids):
            failures.append("an answered decision has not exactly one integrated evidence record")
        if rows != decision_records or unlinked or pending:
            failures.append(
                f"Decision rows {rows}, decision records {decision_records}, unlinked {unlinked}, leaves {pending}"
            )
        # Answered before the first request are the bench set-up's none; a reset request may have committed.
        if not len(answered_ids) <= rows <= len(answered_ids) + resets:
            failures.append(f"Decision rows {rows} vs answered {len(answered_ids)} (+{resets} resets)")
        if not verify.ok:
            failures.append(f"chain: {verify.summary}")
        samples = scrape(port, token_m)
        histogram = sum(samples.get(("cavra_decision_seconds_count", (("outcome", o),)), 0) for o in VERDICTS)
        integrated = samples.get(("cavra_sequencer_records_integrated_total", ()), 0)
        records = EvidenceRecord.objects.filter(tenant=tenant).count()
        if histogram < len(answered_ids):
            failures.append(f"metrics: {histogram} decisions timed, {len(answered_ids)} answered 200")
        print(
            f"after: drained in {drain_s:.1f}s; Decision rows {rows} = decision records {decision_records}; "
            f"answered 200: {len(answered_ids)}; chain {verify.summary}; metrics: {histogram:.0f} timed, "
            f"{integrated:.0f} of {records} records counted by the sequencers",
            flush=True,
        )
        load_after = os.getloadavg()
        if not args.no_docs:
            write_section(
                render(
                    args,
                    soak=(len(soak), soak_wall, soak_kinds, rss_first, rss_last, max(rss)),
                    fault=(len(fault), fault_wall, fault_kinds),
                    restart=(len(restart), restart_wall, restart_kinds, outage),
                    after=(rows, decision_records, len(answered_ids), verify.summary, drain_s),
                    metrics=(histogram, integrated, records),
                    load=(load_before, load_after),
                    failures=failures,
                ),
                SECTION,
            )
    finally:
        stop(gunicorn_proc)
        stop(sequencer_proc)
        shutil.rmtree(metrics_dir, ignore_errors=True)
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001 - Django may not have been set up
            pass
        if not args.keep_db:
            with psycopg.connect(admin_url, autocommit=True) as pg:
                pg.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        pg_server.stop()
    for failure in failures:
        print("FAIL", failure, flush=True)
    print("load test:", "FAILED" if failures else "passed", flush=True)
    return 1 if failures else 0


def render(args, *, soak, fault, restart, after, metrics, load, failures) -> str:
    n, wall, kinds, rss_first, rss_last, rss_max = soak
    fn, fwall, fkinds = fault
    rn, rwall, rkinds, outage = restart
    rows, records, answered, summary, drain_s = after
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        "unknown",
    )
    return f"""{SECTION}

`make test-load` (`bench/load_decisions.py --decisions {args.decisions} --fault-decisions {args.fault_decisions}
--restart-decisions {args.restart_decisions} --pg-restart-mode {args.pg_restart_mode} --concurrency {args.concurrency}`),
{datetime.now(UTC):%Y-%m-%d %H:%M UTC}, {os.cpu_count()} × {cpu}, gunicorn
{args.workers} gthread workers × {args.threads} threads and one `cavra_sequencer`; PostgreSQL is the test's own
server (`bench/pg_instance.py`: initdb into `bench/.cache/pg-{args.pg_port}/`, 127.0.0.1:{args.pg_port},
`synchronous_commit=on`), because phase 3 restarts it — never the machine's shared server. Load
average (1/5/15 min) before {load[0][0]:.2f}/{load[0][1]:.2f}/{load[0][2]:.2f}, after
{load[1][0]:.2f}/{load[1][1]:.2f}/{load[1][2]:.2f} (a shared machine: other sessions were running).
The issue's full soak is 200,000 decisions (`make test-load LOAD_DECISIONS=200000`); this run is the bounded default.

| phase | requests | wall | rate | answers |
|---|---|---|---|---|
| soak | {n:,} | {wall:.1f} s | {n / wall:.0f}/s | {", ".join(f"{k} {v:,}" for k, v in sorted(kinds.items()))} |
| kill -9 of a gunicorn worker and of the sequencer (restarted after 2 s) | {fn:,} | {fwall:.1f} s | {fn / fwall:.0f}/s | {", ".join(f"{k} {v:,}" for k, v in sorted(fkinds.items()))} |
{restart_row(args, rn, rwall, rkinds, outage)}

- Worker RSS (sum of the gunicorn workers, sampled each second during the soak): first quarter
  {rss_first:.0f} MiB, last quarter {rss_last:.0f} MiB, peak {rss_max:.0f} MiB (the check: last ≤ first × 1.25 + 20 MiB).
- Afterwards (backlog drained in {drain_s:.1f} s): {answered:,} answers 200, Decision rows {rows:,}, decision
  evidence records {records:,} (rows beyond the answers: requests whose worker died after COMMIT, before the
  answer reached the client), each answered id exactly one Decision and one integrated record, no leaf
  pending, no duplicate; chain: {summary.rstrip(".")}.
- Phase 2 needed no 503 unless the table says otherwise: the sequencer's death never blocks a decision
  (leaves wait, then the restarted sequencer integrates them), and the dying worker's requests end as
  resets while its peer keeps answering.
{restart_note(args, rkinds, outage)}
- `/metrics` (multiprocess, every worker and sequencer, the killed ones included): {metrics[0]:,.0f} decisions
  timed; the sequencers counted {metrics[1]:,.0f} of the tenant's {metrics[2]:,} records (a sequencer killed
  between its COMMIT and its counter update loses that batch's count, never the records).
- A "connection reset" is a request in flight on the killed worker: the client gets no answer, which every
  CAVRA client treats as block; none was a 500 page and no allow lacked its Decision.
- Result: {"**passed**" if not failures else "**FAILED**: " + "; ".join(failures)}.
"""


def restart_row(args, n, wall, kinds, outage) -> str:
    if not n:
        return "| PostgreSQL restart | skipped (--restart-decisions 0) | | | |"
    answers = ", ".join(f"{k} {v:,}" for k, v in sorted(kinds.items()))
    return (
        f"| `pg_ctl restart -m {args.pg_restart_mode}` of PostgreSQL a third of the way in | {n:,} | {wall:.1f} s "
        f"| {n / wall:.0f}/s | {answers} |"
    )


def restart_note(args, kinds, outage) -> str:
    if "restart_s" not in outage:
        return "- PostgreSQL restart: not run."
    window = (
        f"the first non-200 answer came {outage['first']:.2f} s and the last {outage['last']:.2f} s after the "
        "restart began"
        if outage.get("first") is not None
        else "no request failed"
    )
    return (
        f"- PostgreSQL restart (`-m {args.pg_restart_mode}`): `pg_ctl` took {outage['restart_s']:.2f} s to stop "
        f"and accept connections again; {window}. Every answer meanwhile was 200 (committed before the cut or "
        f'after the restart) or 503 with `"decision": "block"` ({kinds["503 block"]:,}); never an allow '
        "without its Decision, never a 500 page. The web workers and the sequencer reconnected by themselves "
        "(nobody restarted them); leaves committed before the cut were integrated afterwards."
    )


if __name__ == "__main__":
    sys.exit(main())
