"""prometheus-client multiprocess mode: with PROMETHEUS_MULTIPROC_DIR, one process's /metrics exposition
aggregates what other processes (gunicorn workers, the sequencer) counted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]

COUNT = """
import django
django.setup()
from core.metrics import decision_observed, fail_closed_observed, sequencer_batch_observed
fail_closed_observed(agent=True)
decision_observed("allow", 0.004)
sequencer_batch_observed([0.01, 0.02])
"""
SCRAPE = """
import django
django.setup()
from core.metrics import metrics_exposition
import sys
sys.stdout.write(metrics_exposition().decode())
"""


def _run(code: str, env: dict) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _samples(text: str) -> dict:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_scrape_aggregates_every_process(tmp_path):
    env = dict(
        os.environ, PROMETHEUS_MULTIPROC_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="cavra_portal.settings"
    )
    env.setdefault("SECRET_KEY", "metrics-multiprocess-test")
    for _ in range(3):
        _run(COUNT, env)
    samples = _samples(_run(SCRAPE, env))
    assert samples[("cavra_fail_closed_answers_total", (("caller", "agent"),))] == 3
    assert samples[("cavra_decision_seconds_count", (("outcome", "allow"),))] == 3
    assert samples[("cavra_sequencer_records_integrated_total", ())] == 6
    assert samples[("cavra_sequencer_batches_integrated_total", ())] == 3
    # Without the directory a process serves only its own registry: the others' counts are not there.
    plain = _samples(_run(SCRAPE, {k: v for k, v in env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}))
    assert plain.get(("cavra_fail_closed_answers_total", (("caller", "agent"),)), 0) == 0
