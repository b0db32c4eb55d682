"""The portal's Merkle tree: checkpoints are signed tree heads, the API serves RFC 9162 proofs that verify
with the offline code, and bundles carry what the verifier needs to rebuild and check the tree."""

import pytest
from django.db import connection, transaction

from cavra_engine.evidence import merkle
from cavra_engine.evidence.canonical import record_hash
from cavra_engine.evidence.verify import verify_bundle
from core.roles import Role
from evidence.models import ChainHead, EvidenceRecord, MerkleNode
from evidence.services import (
    bundle_export,
    checkpoint_create,
    merkle_consistency_proof,
    merkle_root,
    record_document,
    trust_root_export,
)
from tests.factories import EvidenceRecordFactory


def _leaves(tenant):
    return [merkle.leaf_hash(bytes.fromhex(h)) for h in
            EvidenceRecord.objects.filter(tenant=tenant).order_by("seq").values_list("hash", flat=True)]  # fmt: skip


def test_checkpoints_are_signed_tree_heads_with_the_rfc_9162_root(acme):
    EvidenceRecordFactory.create_batch(5, tenant=acme, kind="decision.recorded")
    first = checkpoint_create(tenant=acme)
    EvidenceRecordFactory.create_batch(6, tenant=acme, kind="decision.recorded")
    second = checkpoint_create(tenant=acme)
    leaves = _leaves(acme)
    assert first.root_hash == merkle.root(leaves[: first.seq]).hex()
    assert second.root_hash == merkle.root(leaves[: second.seq]).hex()
    # two node rows per leaf at most (leaves plus completed interior subtrees)
    assert MerkleNode.objects.filter(tenant=acme).count() <= 2 * second.seq


def test_inclusion_and_consistency_proofs_from_the_api_verify_offline(acme, member, client_as):
    client = client_as(member(acme, Role.AUDITOR))
    EvidenceRecordFactory.create_batch(7, tenant=acme, kind="decision.recorded")
    old = checkpoint_create(tenant=acme)
    EvidenceRecordFactory.create_batch(10, tenant=acme, kind="decision.recorded")
    head = checkpoint_create(tenant=acme)
    record = EvidenceRecord.objects.get(tenant=acme, seq=3)
    body = client.get(f"/api/v1/evidence/records/{record.public_id}/proof").json()
    assert body["tree_size"] == head.seq and body["tree_head"]["type"] == "cavra.evidence.checkpoint/v2"
    assert merkle.verify_inclusion(
        2, head.seq, bytes.fromhex(body["leaf_hash"]), [bytes.fromhex(h) for h in body["proof"]],
        bytes.fromhex(body["tree_head"]["root_hash"]),
    )  # fmt: skip
    older = client.get(f"/api/v1/evidence/records/{record.public_id}/proof?size={old.seq}").json()
    assert older["tree_size"] == old.seq
    body = client.get(f"/api/v1/evidence/consistency?from={old.seq}").json()
    assert body["first_root"] == old.root_hash
    assert merkle.verify_consistency(
        old.seq, head.seq, bytes.fromhex(old.root_hash), bytes.fromhex(head.root_hash),
        [bytes.fromhex(h) for h in body["proof"]],
    )  # fmt: skip


@pytest.mark.parametrize(
    "query, field",
    [("?size=999", "size"), ("?size=0", "size"), ("?size=abc", "size"), ("?size=3", "size")],
)
def test_proof_for_a_size_that_is_no_signed_head_is_a_400_naming_size(acme, member, client_as, query, field):
    client = client_as(member(acme, Role.AUDITOR))
    EvidenceRecordFactory.create_batch(4, tenant=acme, kind="decision.recorded")
    checkpoint_create(tenant=acme)
    record = EvidenceRecord.objects.get(tenant=acme, seq=4)
    response = client.get(f"/api/v1/evidence/records/{record.public_id}/proof{query}")
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_consistency_rejects_bad_ranges(acme, member, client_as):
    client = client_as(member(acme, Role.AUDITOR))
    assert client.get("/api/v1/evidence/consistency?from=1").status_code == 400  # no head yet
    EvidenceRecordFactory.create_batch(4, tenant=acme, kind="decision.recorded")
    head = checkpoint_create(tenant=acme)
    for query in (
        "",
        "?from=0",
        f"?from={head.seq + 1}",
        "?from=3&to=2",
        f"?from=1&to={head.seq - 1}",
        "?from=x",
    ):
        response = client.get(f"/api/v1/evidence/consistency{query}")
        assert response.status_code == 400, query
        assert response.json()["errors"], query


def test_proof_of_another_tenants_record_is_a_404(acme, globex, member, client_as):
    EvidenceRecordFactory.create_batch(2, tenant=globex, kind="decision.recorded")
    checkpoint_create(tenant=globex)
    record = EvidenceRecord.objects.filter(tenant=globex).first()
    client = client_as(member(acme, Role.AUDITOR))
    assert client.get(f"/api/v1/evidence/records/{record.public_id}/proof").status_code == 404


def test_bundles_carry_frontier_and_consistency_and_verify_with_the_tree(acme):
    EvidenceRecordFactory.create_batch(6, tenant=acme, kind="decision.recorded")
    anchor = checkpoint_create(tenant=acme)
    EvidenceRecordFactory.create_batch(5, tenant=acme, kind="decision.recorded")
    checkpoint_create(tenant=acme)
    EvidenceRecordFactory.create_batch(3, tenant=acme, kind="decision.recorded")
    checkpoint_create(tenant=acme)
    bounded = bundle_export(tenant=acme, first_seq=anchor.seq + 2, last_seq=anchor.seq + 3)
    report = verify_bundle(bounded.data, trust_root_export(acme))
    assert report.ok, report.problems
    assert bounded.first_seq == anchor.seq + 1  # the anchor's signed root vouches for the frontier
    assert report.summary["latest_checkpoint"] > bounded.last_seq  # and a consistency proof reaches it
    full = bundle_export(tenant=acme)
    assert verify_bundle(full.data, trust_root_export(acme)).ok


def _superuser_sql(sql, params=()):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)


def test_a_rewritten_rehashed_and_resigned_history_contradicts_a_published_head(acme):
    """Direct SQL with the triggers off, every hash recomputed, tree and checkpoints rebuilt and re-signed
    with the tenant's own key: internally consistent again, but not with a head published before."""
    EvidenceRecordFactory.create_batch(6, tenant=acme, kind="decision.recorded")
    published = checkpoint_create(tenant=acme)
    published_size, published_root = published.seq, bytes.fromhex(published.root_hash)

    _superuser_sql("UPDATE evidence_evidencerecord SET payload = '{\"i\": 99}' WHERE tenant_id = %s AND seq = 2",
                   [acme.pk])  # fmt: skip
    head = ChainHead.objects.get(tenant=acme)
    prev = "0" * 64
    for record in EvidenceRecord.objects.filter(tenant=acme).order_by("seq"):
        document = record_document(record, head.tenant_label)
        document["prev_hash"] = prev
        digest = record_hash(document)
        _superuser_sql("UPDATE evidence_evidencerecord SET prev_hash = %s, hash = %s WHERE id = %s",
                       [prev, digest, record.pk])  # fmt: skip
        prev = digest
    ChainHead.objects.filter(pk=head.pk).update(head_hash=prev)
    for table in ("evidence_checkpoint", "evidence_merklenode", "evidence_merkletree"):
        _superuser_sql(f"DELETE FROM {table} WHERE tenant_id = %s", [acme.pk])
    EvidenceRecordFactory.create_batch(2, tenant=acme, kind="decision.recorded")
    forged = checkpoint_create(tenant=acme)

    report = verify_bundle(bundle_export(tenant=acme).data, trust_root_export(acme))
    assert report.ok, report.problems  # the rewrite is consistent with itself and signed by the real key ...
    proof = merkle_consistency_proof(tenant=acme, first=published_size, second=forged.seq)
    assert merkle_root(tenant=acme, size=published_size) != published_root
    assert not merkle.verify_consistency(  # ... but the head published earlier exposes it
        published_size, forged.seq, published_root, bytes.fromhex(forged.root_hash), proof
    )


def test_uploaded_bundle_is_verified_by_the_offline_verifier_against_the_tenants_trust_root(
    acme, member, client_as
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from cavra_engine.evidence.vectors import build_vectors

    client = client_as(member(acme, Role.AUDITOR))
    EvidenceRecordFactory.create_batch(4, tenant=acme, kind="decision.recorded")
    data = bundle_export(tenant=acme).data
    response = client.post("/api/v1/evidence/bundles/verify", {"bundle": SimpleUploadedFile("b.zip", data)})
    assert response.status_code == 200 and response.json()["ok"] is True, response.json()
    broken = build_vectors()["non-canonical-escape"][0]  # signed by the example key, not the tenant's
    body = client.post(
        "/api/v1/evidence/bundles/verify", {"bundle": SimpleUploadedFile("b.zip", broken)}
    ).json()
    codes = {p["code"] for p in body["problems"]}
    assert body["ok"] is False and {"json.not_canonical", "signature.unknown_key"} <= codes
    response = client.post("/api/v1/evidence/bundles/verify", {})
    assert response.status_code == 400 and "bundle" in response.json()["errors"]


def test_signed_tree_heads_are_appended_to_the_heads_file_for_air_gapped_sites(
    acme, settings, tmp_path, django_capture_on_commit_callbacks
):
    from cavra_engine.evidence.bundle import checkpoint_message
    from cavra_engine.evidence.canonical import parse_line
    from cavra_engine.evidence.report import Report
    from cavra_engine.evidence.verify import load_trust_root

    settings.EVIDENCE_HEADS_FILE = str(tmp_path / "heads.jsonl")
    EvidenceRecordFactory.create_batch(3, tenant=acme, kind="decision.recorded")
    with django_capture_on_commit_callbacks(execute=True):
        first = checkpoint_create(tenant=acme)
    EvidenceRecordFactory.create_batch(2, tenant=acme, kind="decision.recorded")
    with django_capture_on_commit_callbacks(execute=True):
        second = checkpoint_create(tenant=acme)
        assert len((tmp_path / "heads.jsonl").read_bytes().splitlines()) == 1  # not before commit
    heads = [parse_line(line) for line in (tmp_path / "heads.jsonl").read_bytes().splitlines()]
    assert [h["seq"] for h in heads] == [first.seq, second.seq]
    _tenant, keys = load_trust_root(trust_root_export(acme), "root", Report())
    for head in heads:
        assert head["type"] == "cavra.evidence.checkpoint/v2"
        keys[head["key_id"]].public_key.verify(bytes.fromhex(head["signature"]), checkpoint_message(head))


def _resign_with_root(tenant, checkpoint, root_hash):
    """A checkpoint whose root was replaced and which was re-signed with the tenant's genuine key."""
    from cavra_engine.evidence.bundle import sign_checkpoint
    from evidence.models import Checkpoint
    from evidence.services import utc_timestamp
    from evidence.signing import decrypt_private_key

    key = checkpoint.key
    document = sign_checkpoint(
        tenant=ChainHead.objects.get(tenant=tenant).tenant_label, seq=checkpoint.seq,
        head_hash=checkpoint.head_hash, created_at=utc_timestamp(checkpoint.created_at), root_hash=root_hash,
        private_key=decrypt_private_key(key.private_key_encrypted, key_id=key.key_id),
    )  # fmt: skip
    Checkpoint.objects.filter(pk=checkpoint.pk).update(root_hash=root_hash, signature=document["signature"])


def test_chain_verify_recomputes_the_merkle_root_of_every_signed_head(acme):
    from evidence.services import chain_verify

    EvidenceRecordFactory.create_batch(5, tenant=acme, kind="decision.recorded")
    first = checkpoint_create(tenant=acme)
    EvidenceRecordFactory.create_batch(4, tenant=acme, kind="decision.recorded")
    checkpoint_create(tenant=acme)
    run = chain_verify(tenant=acme)
    assert run.ok and "Merkle roots recomputed" in run.summary, run.summary

    # Hash links and the signature are intact; only the signed root disagrees with the records.
    _resign_with_root(acme, first, "ab" * 32)
    run = chain_verify(tenant=acme)
    assert not run.ok
    assert run.problems == [
        {"seq": first.seq, "message": f"Signed tree head at record #{first.seq} has Merkle root abababababababab…, "
         f"but the records give {merkle.root(_leaves(acme)[: first.seq]).hex()[:16]}…: records were changed, "
         "removed or reordered."}
    ]  # fmt: skip
    # A range that starts right after it rebuilds from the stored frontier, which the signed root contradicts.
    run = chain_verify(tenant=acme, first_seq=first.seq + 1)
    assert not run.ok and f"The stored Merkle tree at #{first.seq} does not give the root" in run.summary
    assert chain_verify(tenant=acme, first_seq=first.seq + 2).ok


def test_chain_verify_finds_a_stored_tree_that_proofs_would_be_served_from_but_does_not_match(acme):
    from evidence.models import MerkleTree
    from evidence.services import chain_verify

    EvidenceRecordFactory.create_batch(6, tenant=acme, kind="decision.recorded")
    head = checkpoint_create(tenant=acme)
    assert chain_verify(tenant=acme).ok
    frontier = MerkleTree.objects.get(tenant=acme).frontier
    MerkleTree.objects.filter(tenant=acme).update(frontier=["cd" * 32, *frontier[1:]])
    run = chain_verify(tenant=acme)
    assert (
        not run.ok and f"The stored Merkle tree (size {head.seq}) does not match the records" in run.summary
    )


def test_the_first_head_of_a_long_chain_builds_the_tree_in_steps(acme, monkeypatch):
    from evidence.models import MerkleTree
    from evidence.services import merkle as merkle_service

    monkeypatch.setattr(merkle_service, "_CHUNK", 3)
    EvidenceRecordFactory.create_batch(10, tenant=acme, kind="decision.recorded")
    head = checkpoint_create(tenant=acme)
    assert MerkleTree.objects.get(tenant=acme).size == head.seq
    assert head.root_hash == merkle.root(_leaves(acme)).hex()
    assert merkle_root(tenant=acme, size=head.seq - 1) == merkle.root(_leaves(acme)[:-1])
