"""Tree heads published to a real witness over HTTP on 127.0.0.1 through the outbox: countersignatures
stored, failures retried then raised as AISPM findings and doctor failures, and a rewritten history
(direct SQL with the trigger off, re-signed with the tenant's own key) refused by the witness."""

from __future__ import annotations

import io

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.db import connection, transaction

from aispm.models import Finding
from aispm.services.findings import findings_refresh
from cavra_engine.evidence.bundle import public_key_raw
from cavra_engine.evidence.canonical import record_hash
from cavra_engine.evidence.witness import Witness, cosignature_valid, serve
from core.models import OutboxMessage
from core.outbox import MAX_ATTEMPTS, outbox_message_deliver
from evidence.models import ChainHead, EvidenceRecord, WitnessPublication
from evidence.services import checkpoint_create, checkpoint_document, record_document, trust_root_export
from tests.factories import EvidenceRecordFactory
from tests.support.ports import free_port

P = WitnessPublication.Status


pytestmark = pytest.mark.usefixtures("celery_inline")


@pytest.fixture
def witness(acme, tmp_path, settings):
    """A witness on 127.0.0.1 that trusts acme's keys, configured as the portal's only witness."""
    EvidenceRecordFactory(tenant=acme, kind="decision.recorded")  # the chain and its key exist first
    key = Ed25519PrivateKey.generate()
    label = ChainHead.objects.get(tenant=acme).tenant_label
    node = Witness(state_dir=tmp_path / "witness", key=key, trust_roots={label: trust_root_export(acme)})
    server = None
    for _attempt in range(5):  # another worker may take the port between the probe and the bind
        try:
            server = serve(node, "127.0.0.1", free_port(18600, 18659))
            break
        except OSError:
            continue
    host, port = server.server_address[:2]
    url = f"http://{host}:{port}"
    settings.EVIDENCE_WITNESSES = f"{url}|{public_key_raw(key.public_key()).hex()}"
    settings.EVIDENCE_WITNESS_TIMEOUT = 5
    yield node, key, url
    server.shutdown()
    server.server_close()


def _sign_head(acme, django_capture_on_commit_callbacks, records=3):
    EvidenceRecordFactory.create_batch(records, tenant=acme, kind="decision.recorded")
    with django_capture_on_commit_callbacks(execute=True):
        checkpoint = checkpoint_create(tenant=acme)
    return checkpoint


def _doctor() -> str:
    out = io.StringIO()
    try:
        call_command("cavra_doctor", stdout=out)
    except SystemExit:
        pass
    return out.getvalue()


def _open_findings(acme, check_id):
    return list(Finding.objects.filter(tenant=acme, check_id=check_id, status=Finding.Status.OPEN))


def test_every_new_head_is_countersigned_by_the_witness(acme, witness, django_capture_on_commit_callbacks):
    node, key, _url = witness
    first = _sign_head(acme, django_capture_on_commit_callbacks)
    second = _sign_head(acme, django_capture_on_commit_callbacks)
    label = ChainHead.objects.get(tenant=acme).tenant_label
    for checkpoint in (first, second):
        publication = WitnessPublication.objects.get(checkpoint=checkpoint)
        assert publication.status == P.PUBLISHED and publication.attempts == 1, publication.last_error
        assert cosignature_valid(
            checkpoint_document(checkpoint, label), publication.cosignature, key.public_key()
        )
    assert [line for line in node.log.read_bytes().splitlines()] and node.latest[label]["tree_head"][
        "seq"
    ] == second.seq
    assert OutboxMessage.objects.filter(kind="witness.tree_head", status="sent").count() == 2
    text = _doctor()
    assert "OK   witness acme → http://127.0.0.1:" in text and f"#{second.seq} countersigned" in text, text


def test_a_head_signed_after_the_witness_moved_on_is_superseded(
    acme, witness, django_capture_on_commit_callbacks
):
    EvidenceRecordFactory.create_batch(2, tenant=acme, kind="decision.recorded")
    with django_capture_on_commit_callbacks(execute=False) as held:  # the first head's delivery is late
        first = checkpoint_create(tenant=acme)
    second = _sign_head(acme, django_capture_on_commit_callbacks)
    for callback in held:
        callback()
    assert WitnessPublication.objects.get(checkpoint=second).status == P.PUBLISHED
    assert WitnessPublication.objects.get(checkpoint=first).status == P.SUPERSEDED


def test_an_unreachable_witness_is_retried_then_opens_a_finding(
    acme, witness, settings, django_capture_on_commit_callbacks
):
    _node, key, url = witness
    settings.EVIDENCE_WITNESSES = f"http://127.0.0.1:1|{public_key_raw(key.public_key()).hex()}"
    checkpoint = _sign_head(acme, django_capture_on_commit_callbacks)
    publication = WitnessPublication.objects.get(checkpoint=checkpoint)
    message = OutboxMessage.objects.get(kind="witness.tree_head")
    assert (
        publication.status == P.PENDING and publication.attempts == 1 and "refused" in publication.last_error
    )
    assert message.status == "pending" and message.attempts == 1  # the outbox retries it with backoff
    assert _open_findings(acme, "evidence.witness_unpublished") == []
    with django_capture_on_commit_callbacks(execute=True):
        for _attempt in range(MAX_ATTEMPTS - 1):
            outbox_message_deliver(message_id=message.pk)
    publication.refresh_from_db()
    message.refresh_from_db()
    assert publication.status == P.FAILED and publication.attempts == MAX_ATTEMPTS
    assert message.status == "failed"
    [finding] = _open_findings(acme, "evidence.witness_unpublished")
    assert finding.severity == "high" and f"Head #{checkpoint.seq}" in finding.detail
    text = _doctor()
    assert "FAIL witness acme → http://127.0.0.1:1:" in text and "failed (retries exhausted)" in text, text

    # The witness is back: the next head is countersigned and the finding resolves on the next refresh.
    settings.EVIDENCE_WITNESSES = f"{url}|{public_key_raw(key.public_key()).hex()}"
    later = _sign_head(acme, django_capture_on_commit_callbacks)
    assert WitnessPublication.objects.get(checkpoint=later).status == P.PUBLISHED
    findings_refresh(tenant=acme, check_ids={"evidence.witness_unpublished"})
    assert _open_findings(acme, "evidence.witness_unpublished") == []


def _superuser_sql(sql, params=()):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")  # the append-only trigger is off
        cursor.execute(sql, params)


def _update(tenant_id):
    _superuser_sql(
        "UPDATE evidence_evidencerecord SET payload = '{\"i\": 99}' WHERE tenant_id = %s AND seq = 3",
        [tenant_id],
    )


def _delete(tenant_id):
    _superuser_sql("DELETE FROM evidence_evidencerecord WHERE tenant_id = %s AND seq = 3", [tenant_id])
    _superuser_sql(
        "UPDATE evidence_evidencerecord SET seq = -seq WHERE tenant_id = %s AND seq > 3", [tenant_id]
    )
    _superuser_sql(
        "UPDATE evidence_evidencerecord SET seq = -seq - 1 WHERE tenant_id = %s AND seq < 0", [tenant_id]
    )


def _reorder(tenant_id):
    _superuser_sql(
        "UPDATE evidence_evidencerecord SET seq = -2 WHERE tenant_id = %s AND seq = 2", [tenant_id]
    )
    _superuser_sql("UPDATE evidence_evidencerecord SET seq = 2 WHERE tenant_id = %s AND seq = 3", [tenant_id])
    _superuser_sql(
        "UPDATE evidence_evidencerecord SET seq = 3 WHERE tenant_id = %s AND seq = -2", [tenant_id]
    )


def _rechain_and_forget(tenant):
    """What an operator with database and key access does next: re-link every hash, drop the old heads."""
    label = ChainHead.objects.get(tenant=tenant).tenant_label
    prev, last = "0" * 64, 0
    for record in EvidenceRecord.objects.filter(tenant=tenant).order_by("seq"):
        document = {**record_document(record, label), "prev_hash": prev}
        prev, last = record_hash(document), record.seq
        _superuser_sql("UPDATE evidence_evidencerecord SET prev_hash = %s, hash = %s WHERE id = %s",
                       [document["prev_hash"], prev, record.pk])  # fmt: skip
    ChainHead.objects.filter(tenant=tenant).update(head_hash=prev, seq=last)
    for table in (
        "evidence_witnesspublication",
        "evidence_checkpoint",
        "evidence_merklenode",
        "evidence_merkletree",
    ):
        _superuser_sql(f"DELETE FROM {table} WHERE tenant_id = %s", [tenant.pk])


@pytest.mark.parametrize("tamper", [_update, _delete, _reorder], ids=["update", "delete", "reorder"])
def test_a_rewritten_history_resigned_with_the_tenant_key_is_refused_and_raised(
    acme, witness, tamper, django_capture_on_commit_callbacks
):
    node, _key, _url = witness
    published = _sign_head(acme, django_capture_on_commit_callbacks, records=6)
    assert WitnessPublication.objects.get(checkpoint=published).status == P.PUBLISHED

    tamper(acme.pk)
    _rechain_and_forget(acme)
    forged = _sign_head(acme, django_capture_on_commit_callbacks, records=2)  # signed with acme's genuine key

    publication = WitnessPublication.objects.get(checkpoint=forged)
    assert publication.status == P.REFUSED and "history was rewritten" in publication.last_error
    message = OutboxMessage.objects.get(
        idempotency_key__endswith=f":{forged.seq}:{publication.witness_key_id}"
    )
    assert message.status == "failed" and message.attempts == 1  # a refusal is not retried
    assert len(node.log.read_bytes().splitlines()) == 1  # the witness still holds only the genuine head
    [finding] = _open_findings(acme, "evidence.witness_refused")
    assert finding.severity == "critical" and f"Head #{forged.seq}" in finding.detail
    text = _doctor()
    assert "FAIL witness acme → " in text and "refused" in text, text
