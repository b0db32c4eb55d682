"""Prometheus metrics of the decision path and the evidence sequencer, served at GET /metrics.

Counters and histograms are prometheus-client objects updated where the fact happens (the decision
view, the fail-closed answers, the sequencer's batches). Gauges that describe shared state (leaves
pending, integration lag) are computed at scrape time by collectors the apps register here
(`register_scrape_collector`), so every worker reports the same database truth.

Several processes (gunicorn workers, the sequencer): set PROMETHEUS_MULTIPROC_DIR to a directory
that exists, is empty at start-up and is shared by every process of the host; each process then
writes its samples to files there and a scrape of any worker aggregates all of them
(prometheus-client's multiprocess mode). Without it the plain in-process registry is served, which
is right for one process (runserver, tests) and wrong for several (each scrape would show one worker).

The endpoint and who may read it: core/metrics_view.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.registry import Collector

DECISION_OUTCOMES = ("allow", "block", "require_approval", "unavailable")

DECISION_SECONDS = Histogram(
    "cavra_decision_seconds",
    "Server time of POST /api/v1/decisions by outcome (unavailable = the 503 fail-closed block).",
    ["outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
FAIL_CLOSED_ANSWERS = Counter(
    "cavra_fail_closed_answers",
    "503 answers because the portal could not decide or serve (caller=agent: a block; person: retry).",
    ["caller"],
)
SEQUENCER_BATCHES = Counter(
    "cavra_sequencer_batches_integrated", "Sequencer transactions that integrated at least one leaf."
)
SEQUENCER_RECORDS = Counter(
    "cavra_sequencer_records_integrated", "Evidence leaves integrated into a tenant's chain."
)
SEQUENCER_DELAY = Histogram(
    "cavra_sequencer_integration_delay_seconds",
    "Time from a leaf's creation to the commit of the batch that integrated it.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

CACHE_LOOKUPS = Counter(
    "cavra_cache_lookups",
    "In-process caches of the decision path (agent_credential, rollout, compiled_policy) by result.",
    ["cache", "result"],
)

_scrape_collectors: list[Collector] = []


def register_scrape_collector(collector: Collector) -> None:
    """An app's collector of state computed at scrape time (AppConfig.ready); registered once."""
    if collector not in _scrape_collectors:
        _scrape_collectors.append(collector)


def decision_observed(outcome: str, seconds: float) -> None:
    DECISION_SECONDS.labels(outcome=outcome if outcome in DECISION_OUTCOMES else "unavailable").observe(
        seconds
    )


def cache_lookup_observed(cache: str, *, hit: bool) -> None:
    CACHE_LOOKUPS.labels(cache=cache, result="hit" if hit else "miss").inc()


def fail_closed_observed(*, agent: bool) -> None:
    FAIL_CLOSED_ANSWERS.labels(caller="agent" if agent else "person").inc()


def sequencer_batch_observed(delays: Iterable[float]) -> None:
    delays = list(delays)
    if not delays:
        return
    SEQUENCER_BATCHES.inc()
    SEQUENCER_RECORDS.inc(len(delays))
    for delay in delays:
        SEQUENCER_DELAY.observe(max(delay, 0.0))


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def metrics_exposition() -> bytes:
    """The text exposition: every process's samples in multiprocess mode, this process's otherwise."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    output = generate_latest(registry)
    extra = CollectorRegistry(auto_describe=False)
    for collector in _scrape_collectors:
        extra.register(collector)
    return output + generate_latest(extra)
