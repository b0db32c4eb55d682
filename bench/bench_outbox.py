"""Outbox benchmark: decisions -> connector messages -> real Celery workers -> local receivers.

    .venv/bin/python bench/bench_outbox.py [--decisions 10000] [--workers 2] [--write-doc]

Creates a fresh database, one tenant with two connectors (Splunk HEC, whose receiver checks the
token and event shape, and a signed webhook, whose receiver checks the HMAC), starts a private
redis-server as broker and N `celery worker -P solo` processes, then records the decisions through
the real record path (decision + evidence + one outbox row per connector, one transaction each) and
measures, per message, the lag from the decision's commit to its first receipt at the receiver.
Runs twice: HEC batching on, then off (the webhook is never batched). --write-doc replaces the
"## Outbox" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DB_NAME = "cavra_bench_outbox"


def _fresh_database(base_url: str) -> str:
    import psycopg

    admin_url = base_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    return base_url.rsplit("/", 1)[0] + "/" + DB_NAME


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def _run(n: int, workers: int, batching: bool, broker, queue: str) -> dict:
    from django.db import transaction

    from cavra_engine.policy import Verdict
    from core.models import OutboxMessage
    from policies.decisions import DecisionFacts, DecisionInput, decision_record, session_open
    from policies.decisions.types import PolicyRef
    from tenants.services import tenant_create
    from tests.connectors import receivers as r
    from tests.connectors.workers import Worker, wait_until
    from tests.factories import ConnectorFactory

    hec = r.Receiver(r.check_splunk_hec, "hec-bench-token").start()
    hook = r.Receiver(r.check_webhook, "whsec-bench").start()
    tenant = tenant_create(slug=f"bench-{int(time.time() * 1000)}", name="Bench", starter_setup=False)
    siem = ConnectorFactory(tenant=tenant, kind="splunk_hec", url=hec.url, secret="hec-bench-token",
                            event_types=["decision"], batching=batching)  # fmt: skip
    webhook = ConnectorFactory(tenant=tenant, kind="webhook", url=hook.url + "/hook", secret="whsec-bench",
                               event_types=["decision"])  # fmt: skip
    procs = [Worker(broker, queue).start() for _ in range(workers)]
    time.sleep(5)  # workers connect
    session = session_open(tenant=tenant, agent_ref="agt_bench", repository="acme/api")
    committed: dict[str, float] = {}
    started = time.time()
    for i in range(n):
        facts = DecisionFacts(
            agent_ref="agt_bench", agent_name="", action_digest="", policy=PolicyRef(),
            data=DecisionInput(action="execute_command", target=f"make test {i}", repository="acme/api"),
            verdict=Verdict("block" if i % 3 == 0 else "allow", None, "high", "bench", normalised_target="x"),
        )  # fmt: skip
        with transaction.atomic():
            outcome = decision_record(tenant=tenant, facts=facts, session=session)
        now = time.time()
        record_id = outcome.decision.evidence.public_id
        committed[f"connector:{siem.pk}:{record_id}"] = now
        committed[f"connector:{webhook.pk}:{record_id}"] = now
    produced = time.time()
    done = wait_until(lambda: len(hec.first_received) + len(hook.first_received) >= 2 * n, 600, step=0.5)
    finished = time.time()
    for proc in procs:
        proc.stop()
    hec.stop()
    hook.stop()
    received = {**hec.first_received, **hook.first_received}
    lags = [received[k] - committed[k] for k in committed if k in received]
    last = max(received.values()) if received else finished
    sent = OutboxMessage.objects.filter(
        destination__in=[siem.destination, webhook.destination], status="sent"
    )
    return {
        "batching": batching,
        "complete": done,
        "messages": 2 * n,
        "received": len(lags),
        "duplicates": len(hec.duplicates()) + len(hook.duplicates()),
        "sent_rows": sent.count(),
        "hec_requests": hec.requests,
        "webhook_requests": hook.requests,
        "produce_s": produced - started,
        "decisions_per_s": n / (produced - started),
        "p50": _pct(lags, 50) if lags else float("nan"),
        "p95": _pct(lags, 95) if lags else float("nan"),
        "max": max(lags) if lags else float("nan"),
        "delivered_per_s": len(lags) / (last - started),
        "per_worker_per_s": len(lags) / (last - started) / workers,
        "drain_after_produce_s": last - produced,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--decisions", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--write-doc", action="store_true")
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cavra")
    os.environ["DATABASE_URL"] = _fresh_database(base)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cavra_portal.settings_test")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from cavra_portal.celery import app as celery_app
    from tests.connectors.workers import Broker

    broker = Broker().start()
    queue = f"bench-outbox-{os.getpid()}"
    celery_app.conf.broker_url, celery_app.conf.task_default_queue = broker.url, queue
    celery_app.conf.task_always_eager = False
    celery_app.close()
    try:
        results = [_run(args.decisions, args.workers, batching, broker, queue) for batching in (True, False)]
    finally:
        broker.stop()
    load = os.getloadavg()
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## Outbox",
        "",
        f"Command: `make bench-outbox` (`.venv/bin/python bench/bench_outbox.py --decisions {args.decisions} "
        f"--workers {args.workers} --write-doc`).",
        f"Run {when} on {platform.node()}, {platform.machine()}, {os.cpu_count()} CPUs, shared with other "
        f"sessions (load average at the end {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}), Python "
        f"{platform.python_version()}, PostgreSQL and a private redis-server on the same machine.",
        "",
        f"{args.decisions:,} decisions recorded one transaction each by one producer; each writes one outbox "
        "message for a Splunk HEC connector and one for a signed webhook connector (2 messages per decision). "
        f"{args.workers} `celery worker -P solo` processes deliver to local receivers that validate the "
        "protocol (HEC token and event shape; webhook HMAC). Lag = first receipt at the receiver minus the "
        "decision's commit.",
        "",
        "| HEC batching | messages received / expected | duplicates | lag p50 | lag p95 | lag max | "
        "decisions/s produced | delivered/s (per worker) | HEC requests | webhook requests |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for res in results:
        lines.append(
            f"| {'on' if res['batching'] else 'off'} | {res['received']:,} / {res['messages']:,} | "
            f"{res['duplicates']} | {res['p50']:.2f} s | {res['p95']:.2f} s | {res['max']:.2f} s | "
            f"{res['decisions_per_s']:.0f} | {res['delivered_per_s']:.0f} ({res['per_worker_per_s']:.0f}) | "
            f"{res['hec_requests']:,} | {res['webhook_requests']:,} |"
        )
    lines += ["", "Target: p95 lag under 5 s with two workers.", ""]
    text = "\n".join(lines)
    print(text)
    if args.write_doc:
        doc = ROOT / "docs" / "benchmarks.md"
        current = doc.read_text()
        start = current.find("## Outbox")
        if start >= 0:
            end = current.find("\n## ", start + 1)
            current = current[:start] + (current[end + 1 :] if end >= 0 else "")
        doc.write_text(current.rstrip("\n") + "\n\n" + text)


if __name__ == "__main__":
    main()
