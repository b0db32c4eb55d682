"""Benchmark: POST /api/v1/decisions (gunicorn + PostgreSQL) against the Cerbos PDP, same load.

One command, from the repository root:

    .venv/bin/python bench/bench_decisions.py [--duration 20] [--requests 50000] [--workers 4]

What it does, and undoes:
  1. creates the PostgreSQL database `cavra_bench` (dropped at the end unless --keep-db), migrates it,
     creates the tenant `bench`, installs the bundled pack `baseline`, rolls it out tenant-wide in
     `enforce` mode and registers a claude-code agent with a token (manage.py cavra_agent_token);
  2. starts gunicorn (DEBUG off, SECRET_KEY set, CELERY_TASK_ALWAYS_EAGER=1 so no worker is needed)
     and the Cerbos PDP (npm package @cerbos/cerbos-linux-x64, fetched into bench/.cache/ with npm)
     on 127.0.0.1 with bench/cerbos/policies/action.yaml, the baseline pack translated to Cerbos;
  3. sends every distinct request of the action mix once to both and compares the verdicts;
  4. drives both with the same Python load generator (one process per connection, keep-alive when
     the server allows it) at concurrency 1 and 8, each phase bounded by --duration and --requests;
  5. checks that decisions answered == Decision rows == decision evidence records, verifies the
     tenant's chain, prints the ratio and writes the "## Decision API" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
CACHE = BENCH / ".cache"
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Decision API"
TENANT = "bench"
REPOSITORY = f"{TENANT}/payments"
RESTRICTIVE = {"allow": 0, "require_approval": 1, "block": 2}


# --- the action mix ---------------------------------------------------------------------------------


def action_mix(seed: int = 5) -> list[dict]:
    """200 requests a coding agent might send: 80% allowed, 17% blocked, 3% needing approval.

    Targets are already normalised (no ./a/../b, no $HOME) so the regex translation for Cerbos sees
    the same strings the CAVRA engine matches after normalisation.
    """
    rnd = random.Random(seed)
    pkgs = ["billing", "ledger", "api", "auth", "workers", "reports", "web", "core"]
    mods = ["models", "views", "service", "utils", "tasks", "schema", "client", "handlers", "forms"]

    def src():
        return f"src/{rnd.choice(pkgs)}/{rnd.choice(mods)}.py"

    allow_makers = [
        lambda: {"action": "read_file", "target": src()},
        lambda: {"action": "read_file", "target": src()},
        lambda: {"action": "read_file", "target": f"tests/test_{rnd.choice(mods)}.py"},
        lambda: {
            "action": "read_file",
            "target": rnd.choice(
                [
                    "README.md",
                    "docs/setup.md",
                    ".env.example",
                    ".github/workflows/ci.yml",
                    "infra/main.tf",
                    "pyproject.toml",
                    "~/.aws/config",
                ]
            ),
        },
        lambda: {"action": "write_file", "target": src()},
        lambda: {
            "action": "write_file",
            "target": rnd.choice(["package.json", "docs/changelog.md", f"tests/test_{rnd.choice(mods)}.py"]),
        },
        lambda: {
            "action": "execute_command",
            "target": rnd.choice(
                [
                    f"pytest -q tests/test_{rnd.choice(mods)}.py",
                    f"ls -la src/{rnd.choice(pkgs)}",
                    "git status",
                    "git diff --stat",
                    "npm test",
                    f"ruff check src/{rnd.choice(pkgs)}",
                    f"cat {src()}",
                    f"grep -rn TODO src/{rnd.choice(pkgs)}",
                    "cat .env.example",
                    "make lint",
                ]
            ),
        },
        lambda: (
            lambda b: {
                "action": "git_operation",
                "target": f"git push origin {b}",
                "operation": "push",
                "branch": b,
            }
        )(f"feature/bench-{rnd.randrange(100)}"),
        lambda: {
            "action": "network_request",
            "target": rnd.choice(["https://pypi.org/simple/django/", "https://registry.npmjs.org/react"]),
            "method": "GET",
        },
    ]
    block_targets = [
        ("read_file", ".env"),
        ("read_file", "config/.env.production"),
        ("read_file", "deploy/tls/server.key"),
        ("read_file", "~/.ssh/id_ed25519"),
        ("read_file", "infra/terraform.tfstate"),
        ("read_file", "/home/dev/.aws/credentials"),
        ("write_file", ".env"),
        ("read_file", "~/.kube/config"),
        ("execute_command", "cat .env"),
        ("execute_command", "grep -i password infra/terraform.tfstate"),
        ("execute_command", "cp ~/.ssh/id_rsa /tmp/k"),
        ("read_file", "~/.git-credentials"),
    ]
    approval_targets = [
        ("write_file", ".github/workflows/ci.yml"),
        ("write_file", "infra/iam/roles/deployer.json"),
        ("read_file", ".npmrc"),
    ]
    mix = [rnd.choice(allow_makers)() for _ in range(160)]
    mix += [{"action": a, "target": t} for a, t in (rnd.choice(block_targets) for _ in range(34))]
    mix += [{"action": a, "target": t} for a, t in (approval_targets[i % 3] for i in range(6))]
    rnd.shuffle(mix)
    for spec in mix:
        spec.update(repository=REPOSITORY, environment="dev")
    return mix


def cavra_body(spec: dict, session_id: str | None) -> bytes:
    body = dict(spec, context={"cwd": "/work/payments", "repo_root": "/work/payments"})
    if session_id:
        body["session_id"] = session_id
    return json.dumps(body).encode()


def cerbos_body(spec: dict, principal: str) -> bytes:
    return json.dumps(
        {
            "principal": {"id": principal, "roles": ["agent"], "attr": {"profile": "claude-code"}},
            "resources": [
                {
                    "actions": [spec["action"]],
                    "resource": {
                        "kind": "action",
                        "id": "req",
                        "attr": {
                            "target": spec["target"],
                            "repository": spec["repository"],
                            "environment": spec["environment"],
                        },
                    },
                }
            ],
        }
    ).encode()


def cavra_verdict(status: int, data: bytes) -> str | None:
    if status != 200:
        return None
    body = json.loads(data)
    return body["decision"] if body.get("decision_id") else None


def cerbos_verdict(status: int, data: bytes) -> str | None:
    if status != 200:
        return None
    result = json.loads(data)["results"][0]
    (effect,) = result["actions"].values()
    if effect == "EFFECT_ALLOW":
        return "allow"
    outputs = [o["val"]["decision"] for o in result.get("outputs", []) if isinstance(o.get("val"), dict)]
    return max(outputs, key=RESTRICTIVE.__getitem__) if outputs else "block"


# --- the load generator -----------------------------------------------------------------------------


def _load_worker(kind, port, path, headers, bodies, offset, duration, max_requests, ready, go, out):
    classify = cavra_verdict if kind == "cavra" else cerbos_verdict
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies: list[int] = []
    verdicts: Counter = Counter()
    errors = 0
    ready.wait()  # (a Barrier) every worker is up
    go.wait()
    t_start = time.monotonic()
    deadline = t_start + duration
    i = offset
    n = len(bodies)
    perf = time.perf_counter_ns
    while len(latencies) + errors < max_requests and time.monotonic() < deadline:
        body = bodies[i % n]
        i += 1
        t0 = perf()
        try:
            conn.request("POST", path, body, headers)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            errors += 1
            continue
        elapsed = perf() - t0
        verdict = classify(resp.status, data)
        if verdict is None:
            errors += 1
            continue
        latencies.append(elapsed)
        verdicts[verdict] += 1
    out.put((latencies, dict(verdicts), errors, t_start, time.monotonic(), time.process_time()))
    conn.close()


def run_load(
    *, kind, port, path, headers, bodies_per_conn, concurrency, duration, max_requests, cpu_probe=None
) -> dict:
    cpu_before = cpu_probe() if cpu_probe else {}
    ctx = mp.get_context("fork")
    ready, go, out = ctx.Barrier(concurrency + 1), ctx.Event(), ctx.Queue()
    per_worker = max(1, max_requests // concurrency)
    procs = []
    for k in range(concurrency):
        bodies = bodies_per_conn[k % len(bodies_per_conn)]
        offset = (k * 37) % len(bodies)
        p = ctx.Process(
            target=_load_worker,
            args=(kind, port, path, headers, bodies, offset, duration, per_worker, ready, go, out),
            daemon=True,
        )
        p.start()
        procs.append(p)
    ready.wait()
    go.set()
    results = [out.get(timeout=duration + 120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    server_cpu_s = cpu_delta(cpu_before, cpu_probe()) if cpu_probe else float("nan")
    latencies = sorted(x for r in results for x in r[0])
    verdicts = sum((Counter(r[1]) for r in results), Counter())
    wall = max(r[4] for r in results) - min(r[3] for r in results)
    ms = [x / 1e6 for x in latencies]

    def pct(q):
        return ms[min(len(ms) - 1, int(round(q * (len(ms) - 1))))] if ms else float("nan")

    return {
        "concurrency": concurrency,
        "answered": len(ms),
        "errors": sum(r[2] for r in results),
        "wall_s": wall,
        "rps": len(ms) / wall if wall else 0.0,
        "p50": pct(0.50),
        "p90": pct(0.90),
        "p99": pct(0.99),
        "max": ms[-1] if ms else float("nan"),
        "mean": statistics.fmean(ms) if ms else float("nan"),
        "verdicts": dict(verdicts),
        "cpu_ms": server_cpu_s * 1000 / len(ms) if ms else float("nan"),
        "client_cpu_ms": sum(r[5] for r in results) * 1000 / len(ms) if ms else float("nan"),
    }


# --- servers and environment ------------------------------------------------------------------------


def _proc_cpu_seconds() -> dict[int, tuple[int, str, float]]:
    """{pid: (ppid, cmdline, user+system CPU seconds)} for every process we can read."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        found[int(entry.name)] = (int(fields[1]), cmd, (int(fields[11]) + int(fields[12])) / tick)
    return found


def server_cpu(root_pid: int, db_name: str | None = None) -> dict[int, float]:
    """CPU seconds of a server's process tree (and of its PostgreSQL backends, by database name)."""
    procs = _proc_cpu_seconds()
    tree = {root_pid}
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _, _) in procs.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                changed = True
    if db_name:
        tree |= {
            pid for pid, (_, cmd, _) in procs.items() if cmd.startswith("postgres:") and f" {db_name} " in cmd
        }
    return {pid: procs[pid][2] for pid in tree if pid in procs}


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port: int, path: str, proc: subprocess.Popen, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode} while starting")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status < 500:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{what} did not answer on 127.0.0.1:{port}{path} within {timeout:.0f}s")


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def cerbos_binary(version: str) -> Path:
    target = CACHE / f"cerbos-{version}" / "package" / "cerbos-linux-x64"
    if target.exists():
        return target
    dest = target.parent.parent
    dest.mkdir(parents=True, exist_ok=True)
    print(f"fetching @cerbos/cerbos-linux-x64@{version} with npm pack into {dest} ...", flush=True)
    subprocess.run(
        ["npm", "pack", f"@cerbos/cerbos-linux-x64@{version}", "--silent"],
        cwd=dest,
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=600,
    )
    (tgz,) = dest.glob("cerbos-cerbos-linux-x64-*.tgz")
    with tarfile.open(tgz) as tar:
        tar.extractall(dest, filter="data")
    target.chmod(0o755)
    return target


def wrk_crosscheck(port: int, body: bytes, connections: int, seconds: float) -> float | None:
    """Cerbos's throughput under wrk (a C generator), for reference only: not used in the ratio."""
    wrk = shutil.which("wrk")
    if not wrk:
        return None
    script = CACHE / "cerbos_post.lua"
    script.write_text(
        "wrk.method = 'POST'\nwrk.headers['Content-Type'] = 'application/json'\n"
        f"wrk.body = {json.dumps(body.decode())}\n"
    )
    out = subprocess.run(
        [
            wrk,
            "-t",
            "2",
            "-c",
            str(connections),
            "-d",
            f"{max(1, int(seconds))}s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}/api/check/resources",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    ).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(found.group(1)) if found else None


def machine_info(pg_version: str, cerbos_version: str) -> dict:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    import django
    import gunicorn

    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "os": platform.platform(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "gunicorn": gunicorn.__version__,
        "postgresql": pg_version,
        "cerbos": cerbos_version,
    }


# --- report -----------------------------------------------------------------------------------------


def fmt_row(name: str, r: dict) -> str:
    v = r["verdicts"]
    mix = f"{v.get('allow', 0)}/{v.get('block', 0)}/{v.get('require_approval', 0)}"
    return (
        f"| {name} | {r['concurrency']} | {r['answered']} | {r['errors']} | {r['rps']:.0f} | {r['p50']:.2f} | "
        f"{r['p90']:.2f} | {r['p99']:.2f} | {r['max']:.1f} | {r['cpu_ms']:.2f} | {r['client_cpu_ms']:.2f} | {mix} |"
    )


def render_section(*, info, args, server_desc, results, checks, agreement, ratio, targets) -> str:
    header = (
        "| server | conc. | answered | errors | req/s | p50 ms | p90 ms | p99 ms | max ms | "
        "server CPU ms/req | generator CPU ms/req | allow/block/approval |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    rows = "\n".join(fmt_row(name, r) for name, r in results)
    keepalive = (
        "gunicorn's gthread workers and Cerbos both keep the connection open"
        if args.worker_class != "sync"
        else "gunicorn's sync workers close the connection after each response, so CAVRA pays a new "
        "loopback TCP connection per request; Cerbos keeps it open"
    )
    wrk_note = (
        f" For reference only (not used in the ratio): `wrk` (C) at {max(args.concurrency)} "
        f"connections with a single request body got {checks['wrk_rps']:.0f} checks/s from Cerbos."
        if checks.get("wrk_rps")
        else ""
    )
    disagreements = "".join(f"\n  - `{d}`" for d in agreement["differences"]) or " none"
    return f"""{SECTION}

Produced by `.venv/bin/python bench/bench_decisions.py --duration {args.duration:g} --requests {args.requests}`
on {info["date"]}. Do not edit by hand; re-run the command.

**Machine:** {info["nproc"]} CPUs ({info["cpu"]}), {info["memory"]} RAM, {info["os"]}; Python {info["python"]},
Django {info["django"]}, gunicorn {info["gunicorn"]}, {info["postgresql"]}, Cerbos {info["cerbos"]}.
Load generator, servers and PostgreSQL share the same {info["nproc"]} CPUs. 1-minute load average
before the load phases {checks["load_before"]:.2f}, after {checks["load_after"]:.2f} (anything well
above 0 means other work shared the CPUs and the absolute numbers are pessimistic for both servers).
One `INSERT` + durable `COMMIT` on this disk: {checks["commit_ms"]:.2f} ms.

**Set-up.** CAVRA: {server_desc} (the server models are compared by `make bench-workers`, section
"Worker models" below), one `cavra_sequencer` process; PostgreSQL database `cavra_bench` (created and dropped by the
script, server defaults: `synchronous_commit=on`, so every decision's transaction is flushed), DEBUG
off, `CELERY_TASK_ALWAYS_EAGER=1` (no Celery worker; nothing on the decision path is queued
unless it needs approval). Tenant `{TENANT}` with the bundled pack `baseline` rolled out tenant-wide in
`enforce` mode; one `claude-code` agent whose token comes from `manage.py cavra_agent_token`; each
load connection sends its own `session_id`. Every CAVRA answer is a real decision: token check,
rollout resolution, compiled policy, registry checks, then the Decision and its evidence leaf committed
durably in one transaction (the sequencer integrates leaves into the hash chain in batches, off the
request path; the check below waits until every leaf is integrated). Cerbos {info["cerbos"]}: `cerbos server` on
127.0.0.1 (disk store, audit off, GOMAXPROCS = {info["nproc"]}) with `bench/cerbos/policies/action.yaml`,
`POST /api/check/resources` with one resource and one action per request.

**Load.** The same Python generator for both: one process per connection (`http.client`), HTTP/1.1
keep-alive ({keepalive}). Each phase stops at {args.duration:g} s or
{args.requests} requests, whichever comes first, after a {args.warmup:g} s warm-up at concurrency {max(args.concurrency)}.
The action mix (200 requests cycled, each connection starting at a different offset): 80% allowed
(reads and writes of source files, tests, `ls`, `git status`, `pytest`, `git push` to a feature
branch, `GET` to package registries), 17% blocked (dotenv, private keys, `.ssh`, cloud and kube
credentials, Terraform state, `cat .env`, `cp ~/.ssh/id_rsa`), 3% require_approval (CI workflow and
IAM document writes, `.npmrc`), which open a pending approval request in CAVRA.

{header}
{rows}

**Ratios (CAVRA / Cerbos).** Throughput at concurrency 8: **{ratio["c8_rps"]:.2f}** (target >= 0.33:
{"met" if targets["c8"] else "NOT met"}); at concurrency 1: {ratio["c1_rps"]:.2f}. p99 at concurrency 1:
CAVRA {ratio["cavra_c1_p99"]:.2f} ms (target <= 15 ms: {"met" if targets["c1"] else "NOT met"}) vs
Cerbos {ratio["cerbos_c1_p99"]:.2f} ms.

**CPU per request** (user + system CPU of the server's processes during the phase divided by the
requests answered: for Cerbos the `cerbos` process, for CAVRA gunicorn's master and workers, the
PostgreSQL backends serving `cavra_bench` and the `cavra_sequencer` process; WAL writer and checkpointer
excluded) is less sensitive to other work on the machine than latency: at concurrency {max(args.concurrency)}
CAVRA used {ratio["cavra_cpu"]:.2f} ms (gunicorn {ratio["cavra_cpu_parts"]["gunicorn"]:.2f}, PostgreSQL
backends {ratio["cavra_cpu_parts"]["postgres"]:.2f}, sequencer {ratio["cavra_cpu_parts"]["sequencer"]:.2f}) and
Cerbos {ratio["cerbos_cpu"]:.2f} ms per request ({ratio["cpu"]:.1f}x).
The generator's own CPU per request is in the table: it competes for the same CPUs, which caps the
Cerbos numbers more than the CAVRA ones.{wrk_note}

**Evidence check after the run.** Decisions answered by CAVRA (verdict pass, warm-up and phases):
{checks["answered"]}; Decision rows: {checks["decisions"]}; decision evidence records:
{checks["evidence"]}; match: **{"yes" if checks["match"] else "NO"}**. Chain verification of tenant
`{TENANT}` ({checks["chain_records"]} records including set-up audit records): **{checks["chain"]}**.

**Same verdicts?** Each of the {agreement["total"]} distinct requests of the mix was sent once to both:
{agreement["same"]} identical verdicts (allow / block / require_approval, Cerbos's read from the rule
output). Differences:{disagreements}

**Where CAVRA's time goes**: the flame graph `docs/flamegraph-decisions.svg` (`make bench-flamegraph`,
py-spy on the workers at concurrency 8) and `bench/bench_decision_path.py` (statements, calls and CPU
per decision in process); see "Hot path (issue 17)" below. Cerbos, for comparison, spent as much CPU
with an allow-all policy as with this one in a trial: its cost is the HTTP/JSON gateway in front of the
engine, not the regexes.

**The Cerbos translation and its limits.** `bench/cerbos/policies/action.yaml` is a resource policy on
an `action` resource: the CAVRA action type is the Cerbos action and the target is a resource
attribute. A catch-all `EFFECT_ALLOW` rule stands for the pack's `defaults: any: allow`; each of the
13 baseline rules is an `EFFECT_DENY` rule with a `matches()` condition (RE2 regexes translated from
the globs; a pattern without `/` matches the basename anywhere) and an output carrying the CAVRA
verdict, rule id and severity, because Cerbos has only ALLOW and DENY (`require_approval` is a DENY
whose output says so). What Cerbos does not do here, so it is doing less work per request:
no path normalisation (`./a/../.env`, `$HOME/.ssh`, `//`; the mix only sends normalised targets), no
shell parsing (the command rule is one regex over the whole command line instead of per segment
after unwrapping `sudo`, `bash -c` and pipelines), no lookahead in RE2 (the `.env.example` exception
is a second, negated regex), no approval workflow, no rollout resolution or modes, no registry checks
(agent status, capability profile, MCP servers), no authentication of the caller (the principal is
whatever the request says), and **no evidence: Cerbos writes nothing** (audit disabled; even enabled,
its audit log is not a hash chain committed with the decision). The ratio therefore compares a
stateless in-memory policy check with a durable, authenticated, evidence-writing decision.
"""


def write_section(text: str, heading: str = SECTION) -> None:
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    old = DOCS.read_text(encoding="utf-8") if DOCS.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(old):
        new = pattern.sub(lambda _m: text.rstrip() + "\n\n", old, count=1)
    else:
        new = old.rstrip() + "\n\n" + text.rstrip() + "\n"
    DOCS.write_text(new.rstrip() + "\n", encoding="utf-8")


# --- main -------------------------------------------------------------------------------------------


def setup_bench_tenant(python: str, env: dict, n_sessions: int):
    """Tenant `bench` with the baseline pack enforced, a claude-code agent and its token, and sessions.

    Needs django.setup() done against env's DATABASE_URL. Returns (tenant, agent, token, session ids).
    """
    from policies.decisions import session_open
    from policies.services import policy_pack_install_bundled, rollout_set
    from registry.models import Agent
    from tenants.services import tenant_create

    tenant = tenant_create(slug=TENANT, name="Benchmark")
    version = policy_pack_install_bundled(tenant=tenant, pack_id="baseline", actor=None)
    rollout_set(tenant=tenant, version=version, mode="enforce", actor=None)
    token = subprocess.run(
        [
            python,
            "manage.py",
            "cavra_agent_token",
            "--tenant",
            TENANT,
            "--agent",
            "bench-agent",
            "--profile",
            "claude-code",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    agent = Agent.objects.get(tenant=tenant, name="bench-agent")
    sessions = [
        session_open(
            tenant=tenant,
            agent_ref=agent.public_id,
            agent_name=agent.name,
            repository=REPOSITORY,
            environment="dev",
        ).public_id
        for _ in range(n_sessions)
    ]
    return tenant, agent, token, sessions


def gunicorn_command(python: str, port: int, workers: int, worker_class: str, threads: int, log) -> list[str]:
    """gunicorn serving the portal on 127.0.0.1:port (errors to `log`)."""
    return [
        str(Path(python).parent / "gunicorn"),
        "cavra_portal.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--threads",
        str(threads),
        "--log-level",
        "warning",
        "--error-logfile",
        str(log),
    ]


def bench_env(database_url: str) -> dict[str, str]:
    """The portal's settings for a benchmark: production-like, no Celery worker needed."""
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "bench-" + os.urandom(16).hex(),
        "DEBUG": "0",
        "CAVRA_DEMO": "0",
        "SECURE_SSL_REDIRECT": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "CELERY_TASK_ALWAYS_EAGER": "1",
        "CAVRA_EVIDENCE_SEQUENCER": "process",
        "DJANGO_SETTINGS_MODULE": "cavra_portal.settings",
        "PYTHONUNBUFFERED": "1",
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=20.0, help="seconds per measured phase (default 20)")
    ap.add_argument("--requests", type=int, default=50000, help="max requests per measured phase")
    ap.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds at concurrency 8 per server")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    ap.add_argument(
        "--workers", type=int, default=os.cpu_count() or 2, help="gunicorn workers (default: one per CPU)"
    )
    ap.add_argument("--worker-class", default="gthread", help="gunicorn worker class (gthread or sync)")
    ap.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (gthread)")
    ap.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/cavra_bench")
    ap.add_argument("--cerbos-version", default="0.55.0")
    ap.add_argument("--keep-db", action="store_true", help="do not drop the benchmark database")
    ap.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    ap.add_argument(
        "--quiet-wait",
        type=float,
        default=120.0,
        help="wait up to this many seconds for the 1-minute load average to drop below "
        "--quiet-load before measuring (the machine may be shared)",
    )
    ap.add_argument("--quiet-load", type=float, default=1.0)
    args = ap.parse_args()

    db_name = args.database_url.rsplit("/", 1)[1]
    admin_url = args.database_url.rsplit("/", 1)[0] + "/postgres"
    env = dict(os.environ, **bench_env(args.database_url))
    os.environ.update(env)
    python = sys.executable
    cerbos = cerbos_binary(args.cerbos_version)
    cerbos_version = subprocess.run([cerbos, "--version"], capture_output=True, text=True).stdout.split()[0]

    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as pg:
        pg.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        pg.execute(f'CREATE DATABASE "{db_name}"')
        pg_version = pg.execute("SHOW server_version").fetchone()[0].split()[0]
    gunicorn_proc = cerbos_proc = sequencer_proc = None
    logs = CACHE / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    try:
        print(f"migrating {db_name} ...", flush=True)
        subprocess.run(
            [python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
        )
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.db import connection

        from evidence.models import Decision, EvidenceRecord
        from evidence.services import chain_verify

        max_c = max(args.concurrency)
        tenant, agent, token, sessions = setup_bench_tenant(python, env, max_c)
        connection.close()

        mix = action_mix()
        cavra_bodies = [[cavra_body(s, sid) for s in mix] for sid in sessions]
        cerbos_bodies = [[cerbos_body(s, agent.public_id) for s in mix]]
        cavra_headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        cerbos_headers = {"Content-Type": "application/json"}

        gport, cport, cgrpc = free_port(), free_port(), free_port()
        gunicorn_cmd = gunicorn_command(
            python, gport, args.workers, args.worker_class, args.threads, logs / "gunicorn.log"
        )
        server_desc = (
            f"`gunicorn --workers {args.workers} --worker-class {args.worker_class}"
            + (f" --threads {args.threads}" if args.threads > 1 else "")
            + "`"
        )
        gunicorn_proc = subprocess.Popen(
            gunicorn_cmd,
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        # The evidence sequencer, as in production: decisions commit leaves, this integrates them.
        sequencer_proc = subprocess.Popen(
            [python, "manage.py", "cavra_sequencer"],
            cwd=ROOT,
            env=env,
            stdout=open(logs / "sequencer.log", "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        cerbos_proc = subprocess.Popen(
            [
                str(cerbos),
                "server",
                f"--config={BENCH / 'cerbos' / 'config.yaml'}",
                f"--set=server.httpListenAddr=127.0.0.1:{cport}",
                f"--set=server.grpcListenAddr=127.0.0.1:{cgrpc}",
                f"--set=storage.disk.directory={BENCH / 'cerbos' / 'policies'}",
                "--log-level=warn",
            ],
            cwd=BENCH / "cerbos",
            stdout=open(logs / "cerbos.log", "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=dict(env, CERBOS_NO_TELEMETRY="1", OTEL_SDK_DISABLED="true"),
        )
        wait_http(gport, "/api/v1/health", gunicorn_proc, "gunicorn")
        wait_http(cport, "/_cerbos/health", cerbos_proc, "cerbos")

        # 1. the same verdicts?
        answered = 0
        differences, same = [], 0
        gc = http.client.HTTPConnection("127.0.0.1", gport, timeout=30)
        cc = http.client.HTTPConnection("127.0.0.1", cport, timeout=30)
        for spec, cav_b, cer_b in zip(mix, cavra_bodies[0], cerbos_bodies[0], strict=True):
            key = (spec["action"], spec["target"])
            gc.request("POST", "/api/v1/decisions", cav_b, cavra_headers)
            r = gc.getresponse()
            cav = cavra_verdict(r.status, r.read())
            answered += cav is not None
            cc.request("POST", "/api/check/resources", cer_b, cerbos_headers)
            r = cc.getresponse()
            cer = cerbos_verdict(r.status, r.read())
            if cav is None or cer is None:
                raise SystemExit(f"no verdict for {key}: cavra={cav} cerbos={cer} (see {logs})")
            if cav == cer:
                same += 1
            elif f"{key[0]} {key[1]}: CAVRA {cav}, Cerbos {cer}" not in differences:
                differences.append(f"{key[0]} {key[1]}: CAVRA {cav}, Cerbos {cer}")
        gc.close()
        cc.close()
        agreement = {"total": len(mix), "same": same, "differences": differences}
        print(f"verdicts: {same}/{len(mix)} identical; differences: {differences or 'none'}", flush=True)

        # the cost of one durable commit on this disk: the floor under every decision at c=1
        with psycopg.connect(args.database_url, autocommit=True) as pg:
            pg.execute("CREATE TABLE bench_commit_probe (x int)")
            t0 = time.perf_counter()
            for _ in range(100):
                pg.execute("INSERT INTO bench_commit_probe VALUES (1)")
            commit_ms = (time.perf_counter() - t0) * 10
            pg.execute("DROP TABLE bench_commit_probe")
        print(f"one INSERT + durable COMMIT: {commit_ms:.2f} ms", flush=True)
        waited = time.monotonic()
        while os.getloadavg()[0] >= args.quiet_load and time.monotonic() - waited < args.quiet_wait:
            time.sleep(5)
        load_before = os.getloadavg()
        print(
            f"load average before the load phases: {load_before[0]:.2f} "
            f"(waited {time.monotonic() - waited:.0f}s)",
            flush=True,
        )

        # 2. load: Cerbos first (PostgreSQL idle), then CAVRA
        results = []
        cavra_snaps: list[dict] = []

        def cavra_probe():
            snap = {
                "gunicorn": server_cpu(gunicorn_proc.pid),
                "postgres": server_cpu(-1, db_name),
                "sequencer": server_cpu(sequencer_proc.pid),
            }
            cavra_snaps.append(snap)
            return {pid: cpu for part in snap.values() for pid, cpu in part.items()}

        plans = [
            (
                "Cerbos",
                "cerbos",
                cport,
                "/api/check/resources",
                cerbos_headers,
                cerbos_bodies,
                lambda: server_cpu(cerbos_proc.pid),
            ),
            (
                "CAVRA",
                "cavra",
                gport,
                "/api/v1/decisions",
                cavra_headers,
                cavra_bodies,
                cavra_probe,
            ),
        ]
        for name, kind, port, path, headers, bodies, probe in plans:
            warm = run_load(
                kind=kind,
                port=port,
                path=path,
                headers=headers,
                bodies_per_conn=bodies,
                concurrency=max_c,
                duration=args.warmup,
                max_requests=args.requests,
            )
            if kind == "cavra":
                answered += warm["answered"]
            for c in args.concurrency:
                r = run_load(
                    kind=kind,
                    port=port,
                    path=path,
                    headers=headers,
                    bodies_per_conn=bodies,
                    concurrency=c,
                    duration=args.duration,
                    max_requests=args.requests,
                    cpu_probe=probe,
                )
                if kind == "cavra":
                    answered += r["answered"]
                    r["cpu_parts"] = {
                        part: cpu_delta(cavra_snaps[-2][part], cavra_snaps[-1][part])
                        * 1000
                        / max(r["answered"], 1)
                        for part in cavra_snaps[-1]
                    }
                results.append((name, r))
                print(
                    f"{name:6} c={c}: {r['answered']} answered, {r['errors']} errors, {r['rps']:.0f} req/s, "
                    f"p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms, server CPU {r['cpu_ms']:.2f} ms/req, "
                    f"client CPU {r['client_cpu_ms']:.2f} ms/req, "
                    f"verdicts {r['verdicts']}"
                    + (
                        f" (server CPU: {', '.join(f'{k} {v:.2f}' for k, v in r['cpu_parts'].items())})"
                        if "cpu_parts" in r
                        else ""
                    ),
                    flush=True,
                )
        load_after = os.getloadavg()
        wrk_rps = wrk_crosscheck(cport, cerbos_bodies[0][0], max_c, min(args.duration, 10))
        if wrk_rps is not None:
            print(f"reference: Cerbos under wrk at {max_c} connections: {wrk_rps:.0f} req/s", flush=True)
        stop(gunicorn_proc)
        stop(cerbos_proc)
        from evidence.models import EvidenceLeaf

        waited_for = time.monotonic()  # the sequencer catches up with what was answered, then stops
        while EvidenceLeaf.objects.filter(tenant=tenant).exists() and time.monotonic() - waited_for < 120:
            time.sleep(0.1)
        stop(sequencer_proc)
        pending_leaves = EvidenceLeaf.objects.filter(tenant=tenant).count()

        # 3. evidence check
        decisions = Decision.objects.filter(tenant=tenant).count()
        evidence = EvidenceRecord.objects.filter(tenant=tenant, kind="decision.recorded").count()
        chain_records = EvidenceRecord.objects.filter(tenant=tenant).count()
        run = chain_verify(tenant=tenant)
        chain = "verified" if run.ok else f"FAILED ({run.summary})"
        checks = {
            "answered": answered,
            "decisions": decisions,
            "evidence": evidence,
            "chain": chain,
            "chain_records": chain_records,
            "match": answered == decisions == evidence and pending_leaves == 0,
            "pending_leaves": pending_leaves,
            "commit_ms": commit_ms,
            "load_before": load_before[0],
            "load_after": load_after[0],
            "wrk_rps": wrk_rps,
        }
        connection.close()

        by = {(n, r["concurrency"]): r for n, r in results}
        lo, hi = min(args.concurrency), max(args.concurrency)
        ratio = {
            "c8_rps": by["CAVRA", hi]["rps"] / by["Cerbos", hi]["rps"],
            "c1_rps": by["CAVRA", lo]["rps"] / by["Cerbos", lo]["rps"],
            "cavra_c1_p99": by["CAVRA", lo]["p99"],
            "cerbos_c1_p99": by["Cerbos", lo]["p99"],
            "cpu": by["CAVRA", hi]["cpu_ms"] / by["Cerbos", hi]["cpu_ms"],
            "cavra_cpu": by["CAVRA", hi]["cpu_ms"],
            "cavra_cpu_parts": by["CAVRA", hi]["cpu_parts"],
            "cerbos_cpu": by["Cerbos", hi]["cpu_ms"],
        }
        targets = {"c1": ratio["cavra_c1_p99"] <= 15.0, "c8": ratio["c8_rps"] >= 1 / 3}
        print(
            f"\nanswered {answered} = Decision rows {decisions} = decision evidence {evidence}: "
            f"{'yes' if checks['match'] else 'NO'}; chain {chain}"
        )
        print(
            f"p99 at c={lo}: CAVRA {ratio['cavra_c1_p99']:.2f} ms (target <= 15 ms: "
            f"{'met' if targets['c1'] else 'NOT met'}), Cerbos {ratio['cerbos_c1_p99']:.2f} ms"
        )
        print(
            f"throughput ratio CAVRA/Cerbos at c={hi}: {ratio['c8_rps']:.3f} "
            f"({by['CAVRA', hi]['rps']:.0f} / {by['Cerbos', hi]['rps']:.0f} req/s; target >= 0.333: "
            f"{'met' if targets['c8'] else 'NOT met'}); at c={lo}: {ratio['c1_rps']:.3f}"
        )
        print(
            f"server CPU per request at c={hi}: CAVRA {ratio['cavra_cpu']:.2f} ms (gunicorn + its PostgreSQL "
            f"backends), Cerbos {ratio['cerbos_cpu']:.2f} ms: {ratio['cpu']:.1f}x"
        )
        if not args.no_docs:
            info = machine_info(f"PostgreSQL {pg_version}", cerbos_version)
            write_section(
                render_section(
                    info=info,
                    args=args,
                    server_desc=server_desc,
                    results=results,
                    checks=checks,
                    agreement=agreement,
                    ratio=ratio,
                    targets=targets,
                )
            )
            print(f"wrote the '{SECTION}' section of {DOCS.relative_to(ROOT)}")
        return 0 if checks["match"] and run.ok else 1
    finally:
        stop(gunicorn_proc)
        stop(cerbos_proc)
        stop(sequencer_proc)
        if not args.keep_db:
            try:
                from django.db import connections

                connections.close_all()
            except Exception:  # noqa: BLE001 - Django may not have been set up
                pass
            with psycopg.connect(admin_url, autocommit=True) as pg:
                pg.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
