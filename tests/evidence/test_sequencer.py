"""Sequenced evidence: leaves committed with the fact, integrated by the tenant's sequencer in batches."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from django.db import close_old_connections, connection, transaction
from django.test import override_settings

from cavra_engine.evidence.leaf import leaf_hash
from evidence.models import ChainHead, EvidenceLeaf, EvidenceRecord
from evidence.services import chain_verify, evidence_append, record_document
from evidence.services.sequencer import (
    SEQUENCER_LOCK_CLASS,
    evidence_integrate,
    evidence_integrate_all,
    sequencer_backlog,
    sequencer_lead,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sequenced():
    with override_settings(CAVRA_EVIDENCE_SEQUENCER="process"):
        yield


def _append(tenant, subject, **payload):
    with transaction.atomic():
        return evidence_append(tenant=tenant, kind="test.event", subject=subject, payload=payload)


def test_the_writer_commits_a_leaf_and_takes_no_chain_lock(acme, sequenced):
    before = EvidenceRecord.objects.filter(tenant=acme).count()
    head_before = ChainHead.objects.filter(tenant=acme).values_list("seq", flat=True).first()
    with transaction.atomic():
        leaf = evidence_append(tenant=acme, kind="test.event", subject="a", payload={"n": 1})
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")  # the leaf's commit waits for the WAL flush itself
            assert cursor.fetchone()[0] == "on"
    assert leaf.record is None and leaf.public_id.startswith("evd_")
    assert EvidenceRecord.objects.filter(tenant=acme).count() == before
    assert ChainHead.objects.filter(tenant=acme).values_list("seq", flat=True).first() == head_before
    assert sequencer_backlog()[acme.pk][0] == 1


def test_integration_chains_leaves_in_order_and_keeps_their_ids_and_leaf_hashes(acme, sequenced):
    leaves = [_append(acme, f"s{i}", n=i) for i in range(5)]
    assert evidence_integrate(tenant_id=acme.pk, limit=3) == 3
    assert evidence_integrate(tenant_id=acme.pk) == 2
    assert evidence_integrate(tenant_id=acme.pk) == 0
    records = list(EvidenceRecord.objects.filter(tenant=acme, kind="test.event").order_by("seq"))
    assert [r.seq - records[0].seq for r in records] == [0, 1, 2, 3, 4]
    assert [r.public_id for r in records] == [leaf.public_id for leaf in leaves]
    label = ChainHead.objects.get(tenant=acme).tenant_label
    for leaf, record in zip(leaves, records, strict=True):
        assert leaf_hash(record_document(record, label)) == leaf.leaf_hash
    assert not EvidenceLeaf.objects.filter(tenant=acme).exists()
    assert ChainHead.objects.get(tenant=acme).seq == records[-1].seq
    assert chain_verify(tenant=acme).ok


def test_a_batch_that_does_not_commit_leaves_everything_pending_and_nothing_duplicated(acme, sequenced):
    for i in range(3):
        _append(acme, f"s{i}", n=i)
    with pytest.raises(RuntimeError), transaction.atomic():
        assert evidence_integrate(tenant_id=acme.pk) == 3
        raise RuntimeError("the sequencer died before COMMIT")
    assert EvidenceLeaf.objects.filter(tenant=acme).count() == 3
    assert not EvidenceRecord.objects.filter(tenant=acme, kind="test.event").exists()
    assert evidence_integrate_all() == 3  # the restarted sequencer
    assert evidence_integrate_all() == 0
    assert EvidenceRecord.objects.filter(tenant=acme, kind="test.event").count() == 3
    assert chain_verify(tenant=acme).ok


def test_tenants_are_sequenced_independently(acme, globex, sequenced):
    heads = {
        t.pk: ChainHead.objects.filter(tenant=t).values_list("seq", flat=True).first() or 0
        for t in (acme, globex)
    }
    _append(acme, "a", n=1)
    _append(globex, "g", n=1)
    _append(acme, "a2", n=2)
    assert evidence_integrate_all() == 3
    assert ChainHead.objects.get(tenant=acme).seq == heads[acme.pk] + 2
    assert ChainHead.objects.get(tenant=globex).seq == heads[globex.pk] + 1


def test_leadership_is_the_advisory_lock_and_one_holder_at_a_time(acme, sequenced):
    settings = connection.settings_dict
    other = psycopg.connect(
        host=settings["HOST"] or "127.0.0.1", port=settings["PORT"] or 5432, user=settings["USER"],
        dbname=settings["NAME"], autocommit=True,
    )  # fmt: skip
    try:
        held = other.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", [SEQUENCER_LOCK_CLASS, acme.pk]
        ).fetchone()
        assert held[0] is True
        assert sequencer_lead(acme.pk) is False  # another sequencer leads this tenant
        other.close()  # its process died: PostgreSQL releases the session lock when the backend exits
        deadline = time.monotonic() + 10
        while not sequencer_lead(acme.pk):
            assert time.monotonic() < deadline, "the dead leader's lock was never released"
            time.sleep(0.05)
        assert sequencer_lead(acme.pk) is True  # re-entrant for the leader
    finally:
        other.close()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock_all()")


def test_concurrent_writers_and_a_running_integrator_lose_nothing(acme, sequenced):
    writers, per_writer, errors = 4, 15, []
    done = threading.Event()

    def write(n):
        try:
            for i in range(per_writer):
                _append(acme, f"w{n}-{i}", writer=n, i=i)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            close_old_connections()

    def integrate():
        try:
            while not done.is_set():
                evidence_integrate(tenant_id=acme.pk, limit=7)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    integrator = threading.Thread(target=integrate)
    integrator.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    integrator.join()
    evidence_integrate_all()
    assert errors == []
    subjects = list(
        EvidenceRecord.objects.filter(tenant=acme, kind="test.event").values_list("subject", flat=True)
    )
    assert len(subjects) == len(set(subjects)) == writers * per_writer
    assert chain_verify(tenant=acme).ok


def test_the_sequencer_command_integrates_what_is_pending(acme, sequenced):
    from io import StringIO

    from django.core.management import call_command

    for i in range(3):
        _append(acme, f"c{i}", n=i)
    out = StringIO()
    call_command("cavra_sequencer", "--once", stdout=out)
    assert "integrated" in out.getvalue() and not EvidenceLeaf.objects.exists()
    assert chain_verify(tenant=acme).ok


def test_a_stalled_sequencer_is_visible_in_readiness_but_blocks_nothing(acme, sequenced):
    from datetime import timedelta

    from django.utils import timezone

    from evidence.services.doctor import doctor_run

    evidence_integrate_all()
    assert next(c for c in doctor_run() if c.name == "evidence sequencer").status == "OK"
    leaf = _append(acme, "late", n=1)
    EvidenceLeaf.objects.filter(pk=leaf.pk).update(created_at=timezone.now() - timedelta(seconds=30))
    check = next(c for c in doctor_run() if c.name == "evidence sequencer")
    assert check.status == "FAIL" and "1 leaves pending" in check.detail and "cavra_sequencer" in check.fix
