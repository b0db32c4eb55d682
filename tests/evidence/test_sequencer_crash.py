"""kill -9 of the real sequencer process mid-integration: nothing lost, nothing duplicated, the chain verifies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.test import override_settings

from evidence.models import EvidenceLeaf, EvidenceRecord
from evidence.services import chain_verify, evidence_append

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


def _sequencer_process(batch: int) -> subprocess.Popen:
    db = connection.settings_dict
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="cavra_portal.settings",
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        SECRET_KEY="tests-only-sequencer",
        CAVRA_EVIDENCE_SEQUENCER="process",
        CAVRA_DEMO="0",
    )
    return subprocess.Popen(
        [sys.executable, "manage.py", "cavra_sequencer", "--batch", str(batch), "--interval", "0.01"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def _wait(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@override_settings(CAVRA_EVIDENCE_SEQUENCER="process")
def test_kill_9_mid_integration_then_restart_loses_and_duplicates_nothing(acme):
    total = 400
    for i in range(total):
        with transaction.atomic():
            evidence_append(tenant=acme, kind="test.event", subject=f"k{i}", payload={"i": i})
    integrated = EvidenceRecord.objects.filter(tenant=acme, kind="test.event")
    first = _sequencer_process(batch=5)
    try:
        _wait(lambda: integrated.count() >= 20)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    finally:
        first.kill()
    # Between the crash and the restart: every fact is either a record or a pending leaf, never both.
    records = set(integrated.values_list("subject", flat=True))
    leaves = set(
        EvidenceLeaf.objects.filter(tenant=acme, kind="test.event").values_list("subject", flat=True)
    )
    assert len(records) + len(leaves) == total and not (records & leaves)
    assert leaves, "the kill came after everything was integrated; the test proves nothing"

    second = _sequencer_process(batch=50)
    try:
        _wait(lambda: not EvidenceLeaf.objects.filter(tenant=acme).exists())
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0, second.stderr.read().decode()[-2000:]
    subjects = list(integrated.values_list("subject", flat=True))
    assert len(subjects) == len(set(subjects)) == total
    assert chain_verify(tenant=acme).ok
