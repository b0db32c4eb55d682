"""Benchmark: shadow replay of a candidate pack over 100,000 stored decisions (target: under 20 s).

One command, from the repository root:

    .venv/bin/python bench/bench_replay.py [--decisions 100000] [--write-doc]

What it does, and undoes:
  1. creates the PostgreSQL database `cavra_bench_replay` (dropped at the end unless --keep-db) and
     migrates it; creates the tenant `bench-replay` without a starter rollout;
  2. inserts --decisions Decision rows shaped as decide() records them (a realistic action mix:
     source reads and writes, tests, builds, git pushes, MCP calls, network requests, and the
     dangerous minority: secrets, rm -rf, force pushes, kubectl/terraform in prod), spread over 30 days,
     recorded under the `baseline` pack;
  3. times policy_replay_run() (the Celery task's body) replaying the recommended pack over all of them:
     stream the rows from PostgreSQL, rebuild each request, evaluate, tally the before/after matrix,
     keep the changed decisions, store the result;
  4. prints the numbers and, with --write-doc, writes the "## Shadow replay" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Shadow replay"
TENANT = "bench-replay"


def write_section(text: str) -> None:
    old = DOCS.read_text(encoding="utf-8") if DOCS.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(old):
        new = pattern.sub(lambda _m: text.rstrip() + "\n\n", old, count=1)
    else:
        new = old.rstrip() + "\n\n" + text.rstrip() + "\n"
    DOCS.write_text(new.rstrip() + "\n", encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--decisions", type=int, default=100_000)
    ap.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/cavra_bench_replay")
    ap.add_argument("--keep-db", action="store_true")
    ap.add_argument("--write-doc", action="store_true")
    args = ap.parse_args()
    db_name = args.database_url.rsplit("/", 1)[1]
    admin_url = args.database_url.rsplit("/", 1)[0] + "/postgres"
    env = dict(
        os.environ,
        DATABASE_URL=args.database_url,
        SECRET_KEY="bench-only-secret",
        DEBUG="0",
        CAVRA_DEMO="0",
        SECURE_SSL_REDIRECT="0",
        CELERY_TASK_ALWAYS_EAGER="1",
        DJANGO_SETTINGS_MODULE="cavra_portal.settings",
    )
    os.environ.update(env)
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as pg:
        pg.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        pg.execute(f'CREATE DATABASE "{db_name}"')
        pg_version = pg.execute("SHOW server_version").fetchone()[0].split()[0]
    try:
        print(f"migrating {db_name} ...", flush=True)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
        )
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.utils import timezone

        from cavra_engine.policy import compile_pack, load_bundled_pack
        from cavra_engine.policy.loader import RECOMMENDED_PACK
        from evidence.models import Decision
        from policies.demo import activity_sample
        from policies.models import PolicyReplay
        from policies.services.replay import policy_replay_run, policy_replay_start
        from tenants.services import tenant_create

        tenant = tenant_create(slug=TENANT, name="Replay benchmark", starter_setup=False)
        recorded_under = compile_pack(load_bundled_pack("baseline"))
        from cavra_engine.policy import ActionRequest, evaluate

        rng = random.Random(11)
        now = timezone.now()
        step = timedelta(days=30) / args.decisions
        start = now - timedelta(days=30)
        print(f"inserting {args.decisions} decisions ...", flush=True)
        t0 = time.perf_counter()
        verdict_cache: dict = {}
        batch = []
        for index in range(args.decisions):
            # The demo's mix of agent work (policies/demo.py), so the benchmark replays what the demo shows.
            action, target, extra = activity_sample(rng)
            environment = rng.choices(["dev", "staging", "prod"], weights=[6, 2, 2])[0]
            git = None
            if "operation" in extra:
                git = {
                    "operation": extra["operation"],
                    "branch": extra["branch"],
                    "force": bool(extra.get("force")),
                    "remote": None,
                }
            key = (action, target, environment, repr(git), repr(extra.get("mcp")), extra.get("method"))
            if key not in verdict_cache:
                verdict_cache[key] = evaluate(
                    recorded_under,
                    ActionRequest(
                        action=action,
                        target=target,
                        environment=environment,
                        agent_profile="claude-code",
                        repo_root="/workspace",
                        git=git,
                        mcp=extra.get("mcp"),
                        network={"method": extra["method"]} if extra.get("method") else None,
                        context={"cwd": "/workspace", "repo_root": "/workspace"},
                    ),
                )
            verdict = verdict_cache[key]
            batch.append(
                Decision(
                    tenant=tenant,
                    agent_ref="agt_bench",
                    action=action,
                    target=target,
                    repository=rng.choice(["bench/payments", "bench/web", "bench/infra"]),
                    environment=environment,
                    decision=verdict.decision,
                    rule_id=verdict.rule_id or "",
                    severity=verdict.severity,
                    reason=verdict.reason,
                    policy_pack=recorded_under.pack_id,
                    policy_version=recorded_under.version,
                    policy_digest=recorded_under.digest,
                    policy_mode="enforce",
                    created_at=start + step * index,
                    context={
                        "normalised_target": verdict.normalised_target,
                        "request_context": {"cwd": "/workspace", "repo_root": "/workspace"},
                        "mcp": extra.get("mcp"),
                        "would_have": None,
                        "replay": {"agent_profile": "claude-code", "git": git, "method": extra.get("method")},
                    },
                )
            )
            if len(batch) == 5000:
                Decision.objects.bulk_create(batch)
                batch = []
        if batch:
            Decision.objects.bulk_create(batch)
        insert_s = time.perf_counter() - t0
        candidate = compile_pack(load_bundled_pack(RECOMMENDED_PACK))
        # Queued, then run in this process exactly as the Celery worker runs it (timed alone).
        replay = policy_replay_start(
            tenant=tenant,
            actor=None,
            compiled=candidate,
            label=f"{RECOMMENDED_PACK} {candidate.version}",
            since=start - timedelta(seconds=1),
            until=now + timedelta(seconds=1),
            run_now=False,
        )
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        policy_replay_run(replay_id=replay.pk)
        replay_s = time.perf_counter() - t0
        cpu_s = time.process_time() - cpu0
        replay = PolicyReplay.objects.get(pk=replay.pk)
        assert replay.status == "done" and replay.total == args.decisions, (replay.status, replay.error)
        rate = replay.total / replay_s
        matrix_rows = "\n".join(
            f"| {before} | "
            + " | ".join(
                str(replay.matrix[before][after]) for after in ("allow", "require_approval", "block")
            )
            + " |"
            for before in ("allow", "require_approval", "block")
        )
        met = "met" if replay_s < 20 else "NOT met"
        import django as dj

        text = f"""{SECTION}

Produced by `.venv/bin/python bench/bench_replay.py --decisions {args.decisions} --write-doc` (`make bench-replay`)
on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Do not edit by hand; re-run the command.

**Machine:** {os.cpu_count()} CPUs, {platform.platform()}; Python {platform.python_version()}, Django {dj.get_version()},
PostgreSQL {pg_version}; 1-minute load average before the timed phase {load:.2f} (the CPUs are shared with
other work, so the numbers are pessimistic).

**Set-up.** {args.decisions:,} Decision rows of one tenant spread over 30 days, recorded under `baseline`
(a realistic mix: source reads/writes, tests, builds, feature-branch pushes, MCP and network calls, and a
few percent of secrets, `rm -rf`, force pushes, kubectl/terraform against prod), inserted in
{insert_s:.1f} s. Timed: `policy_replay_run()` (the body of the `policies.replay` Celery task) replaying
the recommended pack `{RECOMMENDED_PACK}` over all of them: stream the rows from PostgreSQL (server-side
cursor, 2,000 per fetch), rebuild each request, evaluate it (each distinct request once per replay:
evaluation is a pure function of the request), tally the before/after matrix, keep the first
5,000 changed decisions and store the result.

**Result:** {replay.total:,} decisions replayed in **{replay_s:.1f} s** ({rate:,.0f} decisions/s, {cpu_s:.1f} s CPU
in the replaying process); target under 20 s: **{met}**. {replay.changed_count:,} decisions would change.

| before \\ after | allow | require_approval | block |
|---|---|---|---|
{matrix_rows}
"""
        print(text)
        if args.write_doc:
            write_section(text)
            print(f"wrote the '{SECTION}' section of {DOCS.relative_to(ROOT)}")
        from django.db import connection

        connection.close()
    finally:
        if not args.keep_db:
            with psycopg.connect(admin_url, autocommit=True) as pg:
                pg.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
