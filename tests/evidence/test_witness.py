"""The witness (cavra_engine.evidence.witness) over real HTTP on 127.0.0.1: it countersigns heads that
extend what it saw and refuses a rewritten history, even one re-signed with the tenant's own key."""

import json
import urllib.error
import urllib.request

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import connection, transaction

from cavra_engine.evidence.canonical import record_hash
from cavra_engine.evidence.witness import Witness, cosignature_valid, serve
from evidence.models import ChainHead, EvidenceRecord
from evidence.services import (
    checkpoint_create,
    checkpoint_document,
    evidence_append,
    merkle_consistency_proof,
    record_document,
    trust_root_export,
)


def _append(tenant, n):
    with transaction.atomic():
        for i in range(n):
            evidence_append(tenant=tenant, kind="decision.recorded", subject=f"dec_{i}", payload={"i": i})


def _post(url, body) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def witness(acme, tmp_path):
    key = Ed25519PrivateKey.generate()
    label = ChainHead.objects.filter(tenant=acme).values_list("tenant_label", flat=True).first() or acme.slug
    _append(acme, 1)  # the chain (and its signing key) exists before the witness learns the trust root
    node = Witness(state_dir=tmp_path, key=key, trust_roots={label: trust_root_export(acme)})
    server = serve(node)
    host, port = server.server_address[:2]
    yield node, f"http://{host}:{port}/v1/heads", key
    server.shutdown()
    server.server_close()


def _head(tenant, cp):
    return checkpoint_document(cp, ChainHead.objects.get(tenant=tenant).tenant_label)


def _proof(tenant, first, second):
    return [h.hex() for h in merkle_consistency_proof(tenant=tenant, first=first, second=second)]


def test_witness_countersigns_heads_that_extend_each_other(acme, witness):
    node, url, key = witness
    _append(acme, 5)
    first = checkpoint_create(tenant=acme)
    status, body = _post(url, {"tree_head": _head(acme, first), "consistency": []})
    assert status == 200, body
    assert cosignature_valid(_head(acme, first), body["cosignature"], key.public_key())
    _append(acme, 4)
    second = checkpoint_create(tenant=acme)
    status, body = _post(
        url, {"tree_head": _head(acme, second), "consistency": _proof(acme, first.seq, second.seq)}
    )
    assert status == 200, body
    with urllib.request.urlopen(url + "/" + _head(acme, second)["tenant"], timeout=5) as response:
        assert json.loads(response.read())["tree_head"]["seq"] == second.seq
    assert len(node.log.read_bytes().splitlines()) == 2
    restarted = Witness(
        state_dir=node.state_dir, key=key, trust_roots={_head(acme, first)["tenant"]: trust_root_export(acme)}
    )
    assert restarted.latest[_head(acme, first)["tenant"]]["tree_head"]["seq"] == second.seq


def test_witness_refuses_a_rewritten_history_resigned_with_the_tenant_key(acme, witness):
    node, url, _key = witness
    _append(acme, 6)
    published = checkpoint_create(tenant=acme)
    assert _post(url, {"tree_head": _head(acme, published), "consistency": []})[0] == 200

    def superuser_sql(sql, params):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute(sql, params)

    superuser_sql(
        "UPDATE evidence_evidencerecord SET payload = '{\"i\": 99}' WHERE tenant_id = %s AND seq = 3",
        [acme.pk],
    )
    label = ChainHead.objects.get(tenant=acme).tenant_label
    prev = "0" * 64
    for record in EvidenceRecord.objects.filter(tenant=acme).order_by("seq"):
        document = {**record_document(record, label), "prev_hash": prev}
        prev = record_hash(document)
        superuser_sql("UPDATE evidence_evidencerecord SET prev_hash = %s, hash = %s WHERE id = %s",
                      [document["prev_hash"], prev, record.pk])  # fmt: skip
    ChainHead.objects.filter(tenant=acme).update(head_hash=prev)
    for table in ("evidence_checkpoint", "evidence_merklenode", "evidence_merkletree"):
        superuser_sql(f"DELETE FROM {table} WHERE tenant_id = %s", [acme.pk])
    _append(acme, 2)
    forged = checkpoint_create(tenant=acme)

    status, body = _post(
        url, {"tree_head": _head(acme, forged), "consistency": _proof(acme, published.seq, forged.seq)}
    )
    assert status == 409 and "history was rewritten" in body["error"]
    assert len(node.log.read_bytes().splitlines()) == 1  # nothing stored for the forged head


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda h: {**h, "signature": "0" * 128}, "signature does not verify"),
        (lambda h: {**h, "tenant": "other"}, "no trust root"),
        (lambda h: {**h, "root_hash": "XYZ"}, "root_hash"),
        (lambda h: {k: v for k, v in h.items() if k != "root_hash"}, "root_hash: member is missing"),
    ],
)
def test_witness_rejects_malformed_or_unsigned_heads(acme, witness, change, message):
    _node, url, _key = witness
    _append(acme, 2)
    head = _head(acme, checkpoint_create(tenant=acme))
    status, body = _post(url, {"tree_head": change(head), "consistency": []})
    assert status == 400 and message in body["error"]


def test_witness_rejects_an_older_head_and_bad_bodies(acme, witness):
    _node, url, _key = witness
    _append(acme, 3)
    old = checkpoint_create(tenant=acme)
    _append(acme, 3)
    new = checkpoint_create(tenant=acme)
    assert _post(url, {"tree_head": _head(acme, new), "consistency": []})[0] == 200
    assert _post(url, {"tree_head": _head(acme, old), "consistency": []})[0] == 409
    assert _post(url, [])[0] == 400
    assert _post(url, {"tree_head": _head(acme, new), "consistency": "nope"})[0] == 400
