"""Many threads and several processes append to one tenant's chain at once: no fork, no gap, verifies."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.db import connection, connections, transaction

from evidence.models import EvidenceRecord
from evidence.services import chain_verify, checkpoint_create, evidence_append

ROOT = Path(__file__).resolve().parents[2]


def _process_env() -> dict:
    settings = connection.settings_dict
    env = dict(os.environ)
    env["DATABASE_URL"] = (
        f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/{settings['NAME']}"
    )
    if settings.get("PASSWORD"):
        env["DATABASE_URL"] = env["DATABASE_URL"].replace(
            f"{settings['USER']}@", f"{settings['USER']}:{settings['PASSWORD']}@"
        )
    env.setdefault(
        "DJANGO_SETTINGS_MODULE", os.environ.get("DJANGO_SETTINGS_MODULE", "cavra_portal.settings_test")
    )
    return env


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_from_threads_and_processes_never_fork_or_gap(acme, globex):
    assert connection.vendor == "postgresql"
    before = EvidenceRecord.objects.filter(tenant=acme).count()
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.evidence.append_worker", str(acme.pk), "60", f"proc{n}"],
            cwd=ROOT,
            env=_process_env(),
            stderr=subprocess.PIPE,
        )  # fmt: skip
        for n in range(4)
    ]
    errors: list[BaseException] = []

    def writer(label: str, tenant) -> None:
        try:
            for i in range(40):
                with transaction.atomic():
                    evidence_append(
                        tenant=tenant,
                        kind="test.concurrent",
                        subject=f"{label}:{i}",
                        payload={"writer": label, "i": i},
                    )
                if i == 20 and label == "thread0":
                    checkpoint_create(tenant=tenant)  # checkpoints interleave with appends
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(f"thread{n}", acme)) for n in range(8)]
    threads.append(threading.Thread(target=writer, args=("other-tenant", globex)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in processes:
        _, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr.decode()
    assert not errors, errors

    seqs = list(EvidenceRecord.objects.filter(tenant=acme).order_by("seq").values_list("seq", flat=True))
    assert len(seqs) == before + 4 * 60 + 8 * 40
    assert seqs == list(range(1, len(seqs) + 1))  # gapless, no duplicates
    writers = EvidenceRecord.objects.filter(tenant=acme, kind="test.concurrent").values_list(
        "payload__writer", flat=True
    )
    assert {w for w in writers} == {f"proc{n}" for n in range(4)} | {f"thread{n}" for n in range(8)}
    checkpoint_create(tenant=acme)
    run = chain_verify(tenant=acme)
    assert run.ok, run.problems
    assert chain_verify(tenant=globex).ok
