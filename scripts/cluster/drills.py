"""`make test-cluster`: failover drills against the running local cluster (scripts/cluster/drills.sh starts it).

Under steady decision load through HAProxy:
  web       kill -9 one web instance; the balancer routes around it; clients retry by idempotency key
  worker    kill -9 the Celery worker in the middle of an outbox delivery; the task is redelivered
            (acks_late + reject_on_worker_lost) and completes once
  failover  stop the primary (immediate: a crash), promote the streaming replica, repoint PgBouncer;
            decisions fail closed (503 + block) meanwhile and resume; no acknowledged decision lost;
            the evidence chain verifies on the new primary
  sequencer kill the sequencer leader; the other takes over (needs the sequencer command, issue #17)
Each prints requests, failures, recovery time and records lost (must be 0); the exit status is 1
when any drill breaks its promise. 127.0.0.1 only; every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import PORT, PRIMARY_PORT, ROOT, C, DecisionLoad, Results  # noqa: E402

REPLICA_PORT = int(os.environ.get("REPLICA_PORT", "5433"))
SMTP_PORT = int(os.environ.get("EMAIL_PORT", "18270"))
PGBIN = os.environ["PGBIN"]


def dsn(port: int) -> str:
    return f"host=127.0.0.1 port={port} dbname=cavra user=postgres connect_timeout=5"


def pid_of(name: str) -> int:
    return int((C / "pids" / f"{name}.pid").read_text())


def kill_group(name: str) -> None:
    os.killpg(pid_of(name), signal.SIGKILL)


def cluster_up() -> None:
    """Restarts whatever is not running (up.sh is idempotent)."""
    subprocess.run([str(ROOT / "scripts/cluster/up.sh")], check=True, capture_output=True, timeout=300)


def as_postgres(*cmd: str) -> list[str]:
    return (["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []) + list(cmd)


def lost_decisions(results: Results, port: int) -> int:
    ids = list(results.acked.values())
    if not ids:
        return 0
    with psycopg.connect(dsn(port)) as conn:
        found = conn.execute(
            "SELECT count(*) FROM evidence_decision WHERE public_id = ANY(%s)", [ids]
        ).fetchone()[0]
    return len(ids) - found


def chain_verifies(port: int) -> str:
    code = (
        "import django; django.setup()\n"
        "from tenants.models import Tenant\nfrom evidence.services import chain_verify\n"
        "run = chain_verify(tenant=Tenant.objects.get(slug='cluster'))\n"
        "print('ok' if run.ok else 'BROKEN', run.records_checked, run.summary)\n"
    )
    env = {**os.environ, "DATABASE_URL": f"postgres://postgres@127.0.0.1:{port}/cavra", "PGBOUNCER": "0"}
    env.pop("DATABASE_REPLICA_URL", None)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    return (out.stdout.strip() or out.stderr.strip().splitlines()[-1])[:200]


def report(name: str, results: Results, fault_at: float, lost: int, extra: str = "") -> dict:
    after = [t for t, _ in results.failures if t >= fault_at]
    recovery = (max(after) - fault_at) if after else 0.0
    kinds: dict[str, int] = {}
    for _, what in results.failures:
        kinds[what] = kinds.get(what, 0) + 1
    row = {
        "drill": name,
        "requests": results.logical,
        "acknowledged": len(results.acked),
        "failed_attempts": len(results.failures),
        "unanswered": results.unanswered,
        "not_fail_closed": results.not_fail_closed,
        "recovery_s": round(recovery, 2),
        "lost": lost,
    }
    print(
        f"[{name}] requests={row['requests']} acknowledged={row['acknowledged']} "
        f"failed_attempts={row['failed_attempts']} {kinds or ''} unanswered={row['unanswered']} "
        f"not_fail_closed={row['not_fail_closed']} recovery={row['recovery_s']}s lost={lost} {extra}",
        flush=True,
    )
    row["ok"] = lost == 0 and results.unanswered == 0 and results.not_fail_closed == 0
    return row


def drill_web(token: str, seconds: float) -> dict:
    load = DecisionLoad(PORT, token, threads=4).start()
    time.sleep(seconds)
    fault_at = time.time()
    kill_group("web1")
    time.sleep(seconds)
    cluster_up()  # the instance comes back; HAProxy takes it in after two good /readyz checks
    time.sleep(3)
    results = load.stop()
    return report("web", results, fault_at, lost_decisions(results, PRIMARY_PORT))


class SlowSmtpSink:
    """A real SMTP server on 127.0.0.1 whose first DATA of each subject answers after `delay` seconds."""

    def __init__(self, port: int, delay: float):
        from aiosmtpd.controller import Controller

        self.delay, self.received, self.started = delay, [], threading.Event()
        self.peers: list[int] = []
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                subject = re.search(rb"^Subject: (.*)$", envelope.content, re.M)
                subject = subject.group(1).decode().strip() if subject else ""
                first = subject not in [s for s, _ in sink.received]
                sink.received.append((subject, session.peer[1]))
                if first:
                    sink.peers.append(session.peer[1])
                    sink.started.set()
                    await asyncio.sleep(sink.delay)
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


def _process_holding(client_port: int, names: tuple[str, ...]) -> str:
    """Which of the cluster's processes `names` owns the TCP connection from client_port (ss, as root)."""
    out = subprocess.run(["ss", "-tnpH", f"sport = :{client_port}"], capture_output=True, text=True).stdout
    match = re.search(r"pid=(\d+)", out)
    if not match:
        raise RuntimeError(f"no process owns port {client_port}: {out!r}")
    group = os.getpgid(int(match.group(1)))
    for name in names:
        if pid_of(name) == group:
            return name
    raise RuntimeError(f"the connection from port {client_port} is none of {names}")


def _worker_holding(client_port: int) -> str:
    return _process_holding(client_port, ("worker1", "worker2"))


def drill_worker(token: str) -> dict:
    import django

    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:{PRIMARY_PORT}/cavra"
    os.environ["PGBOUNCER"] = "0"
    django.setup()
    from django.db import transaction

    from core.models import OutboxAttempt, OutboxMessage
    from core.outbox import outbox_enqueue
    from tenants.models import Tenant

    subject = f"drill-{uuid.uuid4().hex[:12]}"
    load = DecisionLoad(PORT, token, threads=2).start()
    with SlowSmtpSink(SMTP_PORT, delay=6) as sink:
        with transaction.atomic():
            message = outbox_enqueue(
                tenant=Tenant.objects.get(slug="cluster"),
                kind="email.drill",
                idempotency_key=f"drill:{subject}",
                recipients=["security@example.test"],
                subject=subject,
                body="Worker-kill drill.",
            )
        if not sink.started.wait(60):
            raise RuntimeError("no worker started the delivery within 60 s")
        victim = _worker_holding(sink.peers[0])
        fault_at = time.time()
        kill_group(victim)
        deadline = time.monotonic() + 150  # redelivery at once, or the 60 s outbox sweep at worst
        while time.monotonic() < deadline:
            message.refresh_from_db()
            if message.status != OutboxMessage.Status.PENDING:
                break
            time.sleep(0.5)
        done_at = time.time()
        smtp_deliveries = sum(1 for s, _ in sink.received if s == subject)
    cluster_up()
    results = load.stop()
    ok_attempts = OutboxAttempt.objects.filter(message=message, ok=True).count()
    row = report(
        "worker",
        results,
        fault_at,
        lost_decisions(results, PRIMARY_PORT),
        extra=(
            f"killed={victim} task_status={message.status} completed_attempts={ok_attempts} "
            f"smtp_transactions={smtp_deliveries} task_recovery={done_at - fault_at:.1f}s"
        ),
    )
    row["tasks_lost"] = 0 if message.status == OutboxMessage.Status.SENT else 1
    row["ok"] = row["ok"] and message.status == OutboxMessage.Status.SENT and ok_attempts == 1
    return row


def _repoint_pgbouncer(port: int) -> None:
    ini = C / "pgbouncer.ini"
    text = re.sub(r"port=\d+ dbname=cavra$", f"port={port} dbname=cavra", ini.read_text(), flags=re.M)
    ini.write_text(text)
    pid = int((C / "sock" / "pgbouncer.pid").read_text())
    os.kill(pid, signal.SIGHUP)


def drill_failover(token: str, seconds: float) -> dict:
    load = DecisionLoad(PORT, token, threads=4).start()
    time.sleep(seconds)
    fault_at = time.time()
    subprocess.run(as_postgres(f"{PGBIN}/pg_ctl", "-D", str(C / "pg-primary"), "-m", "immediate", "stop"),
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    time.sleep(2)  # the outage, as an operator would take to decide
    subprocess.run(as_postgres(f"{PGBIN}/pg_ctl", "-D", str(C / "pg-replica"), "-w", "promote"),
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    _repoint_pgbouncer(REPLICA_PORT)
    promoted_at = time.time()
    time.sleep(seconds)
    results = load.stop()
    during = [t for t, _ in results.failures if t >= fault_at]
    return report(
        "failover",
        results,
        fault_at,
        lost_decisions(results, REPLICA_PORT),
        extra=(
            f"failed_during_switch={len(during)} promote_after={promoted_at - fault_at:.1f}s "
            f"chain={chain_verifies(REPLICA_PORT)}"
        ),
    )


SEQUENCER_LOCK_CLASS = 1129730897  # evidence.services.sequencer: pg_try_advisory_lock(class, tenant_id)
LEADER_SQL = """
SELECT a.pid, a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s
"""


def _leader(conn, tenant_id: int) -> tuple[int, int] | None:
    return conn.execute(LEADER_SQL, [SEQUENCER_LOCK_CLASS, tenant_id]).fetchone()


def _pending_leaves(conn, tenant_id: int, wait: float) -> int:
    deadline = time.monotonic() + wait
    while True:
        sql = "SELECT count(*) FROM evidence_evidenceleaf WHERE tenant_id = %s"
        pending = conn.execute(sql, [tenant_id]).fetchone()[0]
        if pending == 0 or time.monotonic() > deadline:
            return pending
        time.sleep(0.2)


def drill_sequencer(token: str, seconds: float) -> dict | None:
    if not (ROOT / "evidence/management/commands/cavra_sequencer.py").exists():
        print(
            "[sequencer] SKIPPED: needs the sequencer command of issue #17 (h17), not in this tree",
            flush=True,
        )
        return None
    sequencers = ("sequencer1", "sequencer2")
    with psycopg.connect(dsn(PRIMARY_PORT), autocommit=True) as conn:
        tenant_id = conn.execute("SELECT id FROM tenants_tenant WHERE slug = 'cluster'").fetchone()[0]
        load = DecisionLoad(PORT, token, threads=4).start()
        time.sleep(seconds)
        leader = _leader(conn, tenant_id)
        if leader is None:
            load.stop()
            raise RuntimeError("no sequencer leads tenant `cluster`")
        victim = _process_holding(leader[1], sequencers)
        fault_at = time.time()
        kill_group(victim)
        takeover = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now_leader = _leader(conn, tenant_id)
            if now_leader is not None and now_leader[0] != leader[0]:
                takeover = time.time() - fault_at
                break
            time.sleep(0.1)
        time.sleep(seconds)
        results = load.stop()
        pending = _pending_leaves(conn, tenant_id, wait=60)
        current = _leader(conn, tenant_id)
        new_leader = _process_holding(current[1], sequencers) if current else "none"
    cluster_up()  # the killed sequencer comes back as the standby
    chain = chain_verifies(PRIMARY_PORT)
    row = report(
        "sequencer",
        results,
        fault_at,
        lost_decisions(results, PRIMARY_PORT),
        extra=(
            f"killed={victim} new_leader={new_leader} "
            f"takeover={'never' if takeover is None else f'{takeover:.1f}s'} "
            f"leaves_pending_after={pending} chain={chain}"
        ),
    )
    row["ok"] = row["ok"] and takeover is not None and pending == 0 and chain.startswith("ok")
    return row


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=6.0, help="load before and after each fault")
    parser.add_argument("--only", nargs="*", default=["web", "worker", "sequencer", "failover"])
    args = parser.parse_args()
    token = (C / "agent-token").read_text().strip()
    rows = []
    for name in args.only:  # failover last: it leaves the old primary down
        if name == "web":
            rows.append(drill_web(token, args.seconds))
        elif name == "worker":
            rows.append(drill_worker(token))
        elif name == "sequencer":
            row = drill_sequencer(token, args.seconds)
            if row:
                rows.append(row)
        elif name == "failover":
            rows.append(drill_failover(token, args.seconds))
    failed = [r["drill"] for r in rows if not r["ok"]]
    print("drills:", "all passed" if not failed else f"FAILED: {failed}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
