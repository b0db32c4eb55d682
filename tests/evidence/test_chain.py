"""The chain: append, database-enforced append-only, checkpoints, keys, verification of tampering."""

import pytest
from cryptography.exceptions import InvalidTag
from django.db import DatabaseError, connection, transaction

from cavra_engine.evidence.canonical import GENESIS_HASH
from evidence.models import ChainHead, Checkpoint, EvidenceRecord, SigningKey
from evidence.services import (
    EvidenceError,
    chain_verify,
    checkpoint_create,
    checkpoint_if_grown,
    evidence_append,
    signing_key_rotate,
    trust_root_export,
)
from evidence.signing import decrypt_private_key
from tests.factories import EvidenceRecordFactory

pytestmark = pytest.mark.django_db


def test_append_links_records_gaplessly(acme, globex):
    genesis = EvidenceRecord.objects.get(tenant=acme, seq=1)  # the tenant's creation was audited first
    assert genesis.prev_hash == GENESIS_HASH
    first = EvidenceRecordFactory(tenant=acme)
    assert first.seq == 2 and first.prev_hash == genesis.hash and first.public_id.startswith("evd_")
    second = EvidenceRecordFactory(tenant=acme)
    assert second.seq == 3 and second.prev_hash == first.hash
    assert (
        EvidenceRecordFactory(tenant=globex).seq == EvidenceRecord.objects.filter(tenant=globex).count()
    )  # its own chain
    head = ChainHead.objects.get(tenant=acme)
    assert (head.seq, head.head_hash) == (3, second.hash)


@pytest.mark.django_db(transaction=True)
def test_append_requires_the_callers_transaction(acme):
    with pytest.raises(RuntimeError, match="inside the caller's transaction"):
        evidence_append(tenant=acme, kind="x", subject="y", payload={})


def test_append_rejects_payloads_outside_the_evidence_subset(acme):
    with transaction.atomic():
        with pytest.raises(EvidenceError, match=r"\$\.ratio"):
            evidence_append(tenant=acme, kind="x", subject="y", payload={"ratio": 0.5})
        record = evidence_append(tenant=acme, kind="x", subject="y", payload={"count": 3.0, "list": (1, 2)})
    assert record.payload == {"count": 3, "list": [1, 2]}


def test_role_change_audit_lands_in_the_chain(acme, member):
    member(acme, "auditor")
    assert EvidenceRecord.objects.filter(tenant=acme, kind__startswith="audit.").exists()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE evidence_evidencerecord SET payload = '{\"i\": 99}' WHERE tenant_id = %s",
        "UPDATE evidence_evidencerecord SET hash = repeat('a', 64) WHERE tenant_id = %s",
        "DELETE FROM evidence_evidencerecord WHERE tenant_id = %s",
    ],
)
def test_database_refuses_update_and_delete(acme, sql):
    EvidenceRecordFactory.create_batch(3, tenant=acme)
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [acme.pk])
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic():
            EvidenceRecord.objects.filter(tenant=acme).delete()
    assert EvidenceRecord.objects.filter(tenant=acme).count() == 4


def _bypass_triggers(sql, params):
    """What a database superuser can still do: switch triggers off for the session and rewrite rows."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)


def test_verification_passes_on_an_intact_chain(acme):
    EvidenceRecordFactory.create_batch(20, tenant=acme)
    checkpoint_create(tenant=acme)
    run = chain_verify(tenant=acme)
    assert run.ok, run.problems
    assert run.records_checked == 21 and "All 21 records from #1 to #21 verified" in run.summary


def test_verification_finds_a_changed_record(acme):
    EvidenceRecordFactory.create_batch(10, tenant=acme)
    _bypass_triggers(
        "UPDATE evidence_evidencerecord SET payload = '{\"i\": 42}' WHERE tenant_id = %s AND seq = 4",
        [acme.pk],
    )
    run = chain_verify(tenant=acme)
    assert not run.ok
    assert (
        run.summary == "Record #4 was changed after it was written: its content no longer matches its hash."
    )


def test_verification_finds_a_rewritten_chain_through_the_checkpoint(acme):
    EvidenceRecordFactory.create_batch(5, tenant=acme)
    checkpoint_create(tenant=acme)
    from evidence.services.common import _hash_of, record_document

    # Rewrite record 6 and recompute its hash consistently: only the signed checkpoint can tell.
    record = EvidenceRecord.objects.get(tenant=acme, seq=6)
    record.payload = {"i": 1000}
    new_hash = _hash_of(record_document(record, "acme"))
    _bypass_triggers(
        "UPDATE evidence_evidencerecord SET payload = '{\"i\": 1000}', hash = %s WHERE tenant_id = %s AND seq = 6",
        [new_hash, acme.pk],
    )
    _bypass_triggers("UPDATE evidence_chainhead SET head_hash = %s WHERE tenant_id = %s", [new_hash, acme.pk])
    run = chain_verify(tenant=acme)
    messages = [p["message"] for p in run.problems]
    assert messages[0] == (
        "Checkpoint at record #6 signed a different head hash than the record now holds: the chain was rewritten up to here."
    )
    # The signed Merkle root and the stored tree (rebuilt from the records) say the same.
    assert messages[1] == (
        "The stored Merkle tree (size 6) does not match the records: proofs served from it would not verify."
    )
    assert messages[2].startswith("Signed tree head at record #6 has Merkle root ") and len(messages) == 3


def test_verification_finds_deleted_records_and_broken_links(acme):
    EvidenceRecordFactory.create_batch(8, tenant=acme)
    _bypass_triggers("DELETE FROM evidence_evidencerecord WHERE tenant_id = %s AND seq IN (3, 4)", [acme.pk])
    run = chain_verify(tenant=acme)
    messages = [p["message"] for p in run.problems]
    assert messages[0] == "Records #3 to #4 are missing: the chain has a gap before record #5."
    assert "Broken link at record #5: it does not point to the hash of record #4." in messages
    _bypass_triggers("DELETE FROM evidence_evidencerecord WHERE tenant_id = %s AND seq = 9", [acme.pk])
    run = chain_verify(tenant=acme)
    assert "Record #9 is missing at the end of the chain." in [p["message"] for p in run.problems]


def test_verification_finds_a_forged_checkpoint_signature(acme):
    EvidenceRecordFactory.create_batch(2, tenant=acme)
    cp = checkpoint_create(tenant=acme)
    _bypass_triggers("UPDATE evidence_checkpoint SET signature = %s WHERE id = %s", ["0" * 128, cp.pk])
    run = chain_verify(tenant=acme)
    assert run.summary == "Checkpoint at record #3 has a bad signature: it was altered after signing."


def test_checkpoints_only_when_grown_and_keys_rotate(acme):
    EvidenceRecordFactory.create_batch(2, tenant=acme)
    cp = checkpoint_if_grown(acme)
    assert cp.seq == 3 and cp.reason == Checkpoint.Reason.SCHEDULED
    assert checkpoint_if_grown(acme) is None
    old = cp.key
    new = signing_key_rotate(tenant=acme)
    assert new.key_id != old.key_id
    old.refresh_from_db()
    assert old.valid_until is not None
    cp2 = checkpoint_if_grown(acme)  # the rotation itself was recorded, so the chain grew
    assert cp2.key == new
    root = trust_root_export(acme)
    assert [k["key_id"] for k in root["keys"]] == [old.key_id, new.key_id]
    assert root["keys"][0]["valid_until"] is not None and root["keys"][1]["valid_until"] is None
    assert chain_verify(tenant=acme).ok  # old checkpoints still verify with the retired key


def test_private_keys_are_encrypted_at_rest(acme):
    EvidenceRecordFactory(tenant=acme)
    key = checkpoint_create(tenant=acme).key
    stored = SigningKey.objects.values_list("private_key_encrypted", flat=True).get(pk=key.pk)
    private = decrypt_private_key(stored, key_id=key.key_id)
    assert private.public_key().public_bytes_raw().hex() == key.public_key
    assert key.public_key not in stored
    with pytest.raises(InvalidTag):  # the key id is bound to the ciphertext
        decrypt_private_key(stored, key_id="key_other")
