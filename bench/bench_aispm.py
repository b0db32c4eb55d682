"""AISPM benchmark: the dashboards read rollups, not the Decision table.

    .venv/bin/python bench/bench_aispm.py [--decisions 5000000] [--requests 30] [--write-doc]

Loads N decisions for one tenant over 30 days with COPY (compliance-overlay mappings and surfaces as
decide() stores them), builds the 30 daily rollups, measures the incremental cost of rolling up
10,000 new decisions, then times the executive home, GET /api/v1/aispm/posture and
GET /api/v1/aispm/control-coverage (p50/p95 over --requests runs, in-process Django test client,
one warm-up) and the same posture computed by a direct aggregate over the Decision table.
--write-doc replaces the "## AISPM" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DB_NAME = "cavra_bench_aispm"

RULES = [
    # (weight, decision, rule, severity, surface, action, target, compliance)
    (80, "allow", "", "low", "general_policy", "read_file", "src/app.py", {}),
    (6, "allow", "", "low", "runtime_commands", "execute_command", "pytest -q", {}),
    (4, "block", "baseline.secrets.dotenv", "high", "sensitive_data", "read_file", ".env",
     {"soc2": ["CC6.1", "CC6.7"], "iso27001": ["A.5.17", "A.8.12"], "pci_dss": ["8.6.2"]}),
    (3, "require_approval", "terraform.apply", "high", "infrastructure_iac", "execute_command", "terraform apply",
     {"soc2": ["CC8.1"], "iso27001": ["A.8.32"], "eu_ai_act": ["Art.14"]}),
    (3, "block", "git.push.force-protected", "critical", "source_control", "git_operation", "push -f main",
     {"soc2": ["CC8.1"], "nist_ssdf": ["PS.1.1"]}),
    (2, "allow", "destructive-commands.rm.catastrophic", "critical", "runtime_commands", "execute_command",
     "rm -rf /", {"soc2": ["A1.2"]}),
    (2, "block", "registry.mcp.server_unknown", "high", "mcp_tools", "mcp_tool_call", "evil:run", {}),
]  # fmt: skip


def _django(db_url: str) -> None:
    os.environ["DATABASE_URL"] = db_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cavra_portal.settings_test")
    import django

    django.setup()


def _fresh_database(base_url: str) -> str:
    import psycopg

    admin_url = base_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    return base_url.rsplit("/", 1)[0] + "/" + DB_NAME


def _copy_decisions(tenant_id: int, n: int, start: datetime, span: timedelta, seed: int) -> float:
    """COPY n decisions spread evenly over [start, start + span); returns seconds."""
    import json

    from django.db import connection

    rng = random.Random(seed)
    weights = [r[0] for r in RULES]
    agents = [f"agt_bench{i:02d}" for i in range(20)]
    repos = [f"acme/repo{i:02d}" for i in range(40)]
    cols = ("tenant_id, public_id, session_id, agent_ref, action, target, repository, environment, decision, "
            "rule_id, severity, reason, policy_pack, policy_version, policy_digest, policy_mode, context, "
            "compliance, surface, evidence_id, created_at")  # fmt: skip
    started = time.perf_counter()
    step = span / n
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY evidence_decision ({cols}) FROM STDIN") as copy:
            for i in range(n):
                _, decision, rule, severity, surface, action, target, compliance = rng.choices(
                    RULES, weights
                )[0]
                mode = "audit_only" if rule.startswith("destructive") else "enforce"
                context = {"would_have": {"decision": "block"}} if mode == "audit_only" else {}
                agent = rng.randrange(len(agents))
                repo = repos[
                    (agent * 2 + rng.randrange(2)) % len(repos)
                ]  # each agent works in its two repositories
                copy.write_row((
                    tenant_id, f"dec_b{seed:x}{i:016x}", None, agents[agent], action, target, repo,
                    "prod", decision, rule, severity, "", "compliance-overlay", "1.0.0", "sha256:bench", mode,
                    json.dumps(context), json.dumps(compliance), surface, None, start + step * i,
                ))  # fmt: skip
    return time.perf_counter() - started


def _timed(fn, runs: int) -> dict:
    fn()  # warm-up
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return {"p50": statistics.median(samples), "p95": samples[max(0, int(len(samples) * 0.95) - 1)]}


def run(decisions: int, requests: int, reuse: bool = False) -> dict:
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    db_url = _fresh_database(base) if not reuse else base.rsplit("/", 1)[0] + "/" + DB_NAME
    _django(db_url)
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    from aispm import selectors
    from aispm.score import posture_score
    from aispm.services.findings import findings_refresh
    from aispm.services.rollups import day_bounds, decision_groups, rollup_backfill, rollup_day
    from evidence.models import Decision
    from policies.services import policy_pack_install_bundled, rollout_set
    from tenants.models import Tenant, User
    from tenants.services import membership_add, tenant_create

    today = timezone.now().date()
    tenant = Tenant.objects.filter(slug="bench").first() if reuse else None
    copy_seconds = None
    if tenant is None:
        tenant = tenant_create(slug="bench", name="Bench")
        version = policy_pack_install_bundled(tenant=tenant, pack_id="compliance-overlay", actor=None)
        rollout_set(tenant=tenant, version=version, mode="enforce", actor=None)
        start = datetime.combine(today - timedelta(days=29), datetime.min.time(), tzinfo=UTC)
        copy_seconds = _copy_decisions(tenant.pk, decisions, start, timezone.now() - start, seed=1)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE evidence_decision")
    decisions = Decision.objects.filter(tenant=tenant).count()
    # The executive sees only the AISPM panel on the home page; the API reader is a compliance officer.
    for email, role in (("exec1@bench.test", "executive"), ("co1@bench.test", "compliance_officer")):
        if not User.objects.filter(email=email).exists():
            user = User.objects.create_user(email=email, password="pw-bench-1234")
            membership_add(tenant=tenant, user=user, roles=[role], actor=None)
    findings_refresh(tenant=tenant)

    t = time.perf_counter()
    rollup_backfill(tenant=tenant)
    rollup_build = time.perf_counter() - t

    # 10,000 new decisions arrive today; the incremental job re-rolls today only.
    _copy_decisions(
        tenant.pk, 10_000, timezone.now() - timedelta(minutes=30), timedelta(minutes=29), seed=time.time_ns()
    )
    t = time.perf_counter()
    rollup_day(tenant=tenant, day=today)
    incremental = time.perf_counter() - t
    today_rows = sum(1 for _ in decision_groups(tenant, *day_bounds(today)))

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    clients = {}
    for email in ("exec1@bench.test", "co1@bench.test"):
        clients[email] = Client()
        clients[email].force_login(
            User.objects.get(email=email), backend="django.contrib.auth.backends.ModelBackend"
        )
        session = clients[email].session
        session["cavra_tenant_id"] = tenant.pk
        session.save()

    def get(url, email="co1@bench.test"):
        def call():
            response = clients[email].get(url)
            assert response.status_code == 200, (url, response.status_code)

        return call

    def direct_posture():
        # The same numbers without rollups: one GROUP BY over 30 days of the Decision table.
        since, _ = day_bounds(today - timedelta(days=29))
        from collections import Counter

        outcomes = Counter()
        for g in decision_groups(tenant, since, timezone.now() + timedelta(seconds=1)):
            outcomes[g["outcome"]] += g["count"]
        return posture_score(outcomes, selectors.open_findings_by_severity(tenant=tenant))

    results = {
        "decisions": decisions,
        "copy_seconds": copy_seconds,
        "rollup_build_seconds": rollup_build,
        "incremental_seconds": incremental,
        "today_groups": today_rows,
        "home": _timed(get("/", "exec1@bench.test"), requests),
        "posture_api": _timed(get("/api/v1/aispm/posture"), requests),
        "coverage_api": _timed(get("/api/v1/aispm/control-coverage"), requests),
        "direct_posture": _timed(direct_posture, max(5, requests // 5)),
    }
    results["ratio"] = results["direct_posture"]["p95"] / results["posture_api"]["p95"]
    connection.close()
    return results


def markdown(r: dict) -> str:
    machine = (
        f"{platform.machine()}, {os.cpu_count()} CPU(s) shared with other sessions, PostgreSQL on localhost"
    )
    loaded = (
        f"loaded with COPY in {r['copy_seconds']:.0f} s" if r["copy_seconds"] else "loaded by an earlier run"
    )
    return f"""## AISPM

`make bench-aispm` ({r["decisions"]:,} decisions for one tenant over 30 days, {loaded};
{machine}; measured {datetime.now(UTC):%Y-%m-%d}). Pages and endpoints are
timed in-process with Django's test client (session login, one warm-up), so HTTP server overhead is
not included.

| what | p50 ms | p95 ms |
|---|---|---|
| executive home `/` (an executive: the AISPM panel) | {r["home"]["p50"]:.0f} | {r["home"]["p95"]:.0f} |
| `GET /api/v1/aispm/posture` | {r["posture_api"]["p50"]:.0f} | {r["posture_api"]["p95"]:.0f} |
| `GET /api/v1/aispm/control-coverage` (all frameworks) | {r["coverage_api"]["p50"]:.0f} | {r["coverage_api"]["p95"]:.0f} |
| the same posture by a direct aggregate over the Decision table | {r["direct_posture"]["p50"]:.0f} | {r["direct_posture"]["p95"]:.0f} |

- Rollup build, 30 days: {r["rollup_build_seconds"]:.1f} s.
- Incremental update after 10,000 new decisions (today re-rolled, {r["today_groups"]} groups):
  {r["incremental_seconds"] * 1000:.0f} ms.
- Direct aggregate / rollup-backed posture API (p95): {r["ratio"]:.1f}×.
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--decisions", type=int, default=5_000_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--write-doc", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="keep the decisions loaded by the last run")
    args = parser.parse_args()
    results = run(args.decisions, args.requests, args.reuse)
    text = markdown(results)
    print(text)
    if args.write_doc:
        doc = ROOT / "docs" / "benchmarks.md"
        current = doc.read_text()
        if "## AISPM" in current:
            head, _, rest = current.partition("## AISPM")
            tail = rest[rest.find("\n## ") + 1 :] if "\n## " in rest else ""
            current = head + text + ("\n" + tail if tail else "")
        else:
            current = current.rstrip("\n") + "\n\n" + text
        doc.write_text(current)


if __name__ == "__main__":
    main()
