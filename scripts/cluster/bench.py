"""`make bench-cluster`: decisions/s through HAProxy with 2 and 1 web instances, and the AISPM dashboard's p95
with its reads on the replica vs on the primary while decisions run at full load.

Starts a fresh local cluster (scripts/cluster/up.sh), measures, stops it. `--write-doc` replaces the
"## Cluster" section of docs/benchmarks.md with the numbers, the machine, the date and the load average
before and after (the machine may be shared: the load is reported, not hidden).
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import PORT, PRIMARY_PORT, ROOT, C, DecisionLoad, percentile  # noqa: E402

DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Cluster"


def sh(*cmd: str, env: dict | None = None) -> None:
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, timeout=600, env=env)


def up(**env_overrides: str) -> None:
    sh(str(ROOT / "scripts/cluster/up.sh"), env={**os.environ, **env_overrides})
    time.sleep(4)  # HAProxy: two good /readyz checks before an instance takes traffic


def stop_web(*names: str) -> None:
    subprocess.run(["bash", "-c", f"source scripts/cluster/env.sh; for n in {' '.join(names)}; do stop_pid $n; done"],
                   cwd=ROOT, check=True, timeout=60)  # fmt: skip
    time.sleep(4)  # HAProxy marks it down


def decisions_per_second(token: str, seconds: float, threads: int) -> tuple[float, float]:
    load = DecisionLoad(PORT, token, threads=threads).start()
    time.sleep(seconds)
    results = load.stop()
    return len(results.acked) / seconds, percentile(results.latencies, 95) * 1000


def _officer_cookie() -> str:
    import django

    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:{PRIMARY_PORT}/cavra"
    os.environ["PGBOUNCER"] = "0"
    os.environ.pop("DATABASE_REPLICA_URL", None)
    django.setup()
    from django.test import Client

    from core.roles import Role
    from tenants.middleware import SESSION_KEY
    from tenants.models import Tenant
    from tests.factories import MemberFactory

    tenant = Tenant.objects.get(slug="cluster")
    user = MemberFactory(tenant=tenant, roles=(Role.COMPLIANCE_OFFICER,))
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    session = client.session
    session[SESSION_KEY] = tenant.pk
    session.save()
    return client.cookies["sessionid"].value


def dashboard_p95(token: str, cookie: str, requests: int, threads: int) -> tuple[float, float, int, int]:
    load = DecisionLoad(PORT, token, threads=threads).start()
    time.sleep(2)
    latencies, errors = [], 0
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    for _ in range(requests):
        began = time.monotonic()
        conn.request("GET", "/aispm/", headers={"Cookie": f"sessionid={cookie}", "Host": "127.0.0.1"})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            errors += 1
        latencies.append(time.monotonic() - began)
    results = load.stop()
    return percentile(latencies, 95) * 1000, percentile(latencies, 50) * 1000, errors, len(results.acked)


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--dashboard-requests", type=int, default=60)
    parser.add_argument("--write-doc", action="store_true")
    args = parser.parse_args()

    load_before = loadavg()
    sh("bash", "-c", "scripts/cluster/down.sh; rm -rf var/cluster")
    try:
        up()
        token = (C / "agent-token").read_text().strip()
        decisions_per_second(token, 3, args.threads)  # warm-up
        two, two_p95 = decisions_per_second(token, args.seconds, args.threads)
        stop_web("web2")
        one, one_p95 = decisions_per_second(token, args.seconds, args.threads)
        up()
        cookie = _officer_cookie()
        dash_replica = dashboard_p95(token, cookie, args.dashboard_requests, args.threads)
        stop_web("web1", "web2")
        up(CLUSTER_REPLICA_READS="0")
        dash_primary = dashboard_p95(token, cookie, args.dashboard_requests, args.threads)
    finally:
        sh("bash", "-c", "CLUSTER_CLEAN=1 scripts/cluster/down.sh")
    load_after = loadavg()

    lines = [
        f"| 2 web instances (gunicorn, 2 workers each) | {two:.0f} decisions/s | p95 {two_p95:.0f} ms |",
        f"| 1 web instance | {one:.0f} decisions/s | p95 {one_p95:.0f} ms |",
        f"| dashboard `/aispm/`, reads on the replica, under decision load | p95 {dash_replica[0]:.0f} ms"
        f" (p50 {dash_replica[1]:.0f}, {dash_replica[2]} errors) | {dash_replica[3]} decisions meanwhile |",
        f"| dashboard `/aispm/`, reads on the primary, under decision load | p95 {dash_primary[0]:.0f} ms"
        f" (p50 {dash_primary[1]:.0f}, {dash_primary[2]} errors) | {dash_primary[3]} decisions meanwhile |",
    ]
    cpu = os.cpu_count()
    text = (
        f"{SECTION}\n\n"
        f"`make bench-cluster` (scripts/cluster/bench.py): the local cluster of `make cluster` (HAProxy, gunicorn,\n"
        f"PgBouncer in transaction pooling, PostgreSQL primary + synchronous streaming replica, Celery on\n"
        f"RabbitMQ), {args.threads} client threads sending decisions through the balancer for {args.seconds:.0f} s per phase,\n"
        f"each with an Idempotency-Key. {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {cpu} CPUs,\n"
        f"Python {platform.python_version()}; load average before {load_before}, after {load_after} (the machine is\n"
        f"shared with other sessions: every process of the cluster, the clients included, competes for the same\n"
        f"{cpu} CPUs, so a second web instance cannot add throughput here; it adds availability).\n\n"
        "| setup | result | |\n|---|---|---|\n" + "\n".join(lines) + "\n"
    )
    print(text)
    if args.write_doc:
        doc = DOCS.read_text()
        if SECTION in doc:
            doc = re.sub(rf"{SECTION}\n.*?(?=\n## |\Z)", text.rstrip("\n") + "\n", doc, flags=re.S)
        else:
            doc = doc.rstrip("\n") + "\n\n" + text
        DOCS.write_text(doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
