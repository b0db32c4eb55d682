"""The decision answer with sequenced evidence: id and leaf hash at once, seq once the sequencer integrated."""

from __future__ import annotations

import pytest
from django.test import override_settings

from cavra_engine.evidence.leaf import leaf_hash
from evidence.models import ChainHead, Decision, EvidenceLeaf, EvidenceRecord
from evidence.services import chain_verify, record_document
from evidence.services.sequencer import evidence_integrate_all
from tests.policies.conftest import ask

pytestmark = [pytest.mark.django_db(transaction=True)]


@override_settings(CAVRA_EVIDENCE_SEQUENCER="process")
def test_the_answer_carries_the_leaf_and_the_record_follows(rolled_out, agent_client, acme):
    answers = [
        ask(agent_client, action="read_file", target="src/app.py", repository="acme/payments").json(),
        ask(agent_client, action="read_file", target=".env").json(),
        ask(agent_client, action="execute_command", target="kubectl apply -f deploy.yaml").json(),
    ]
    assert [a["decision"] for a in answers] == ["allow", "block", "require_approval"]
    for body in answers:
        evidence = body["evidence"]
        assert evidence["seq"] is None and evidence["hash"] is None  # not integrated yet
        assert evidence["id"].startswith("evd_") and len(evidence["leaf_hash"]) == 64
    assert Decision.objects.filter(tenant=acme, evidence__isnull=True).count() == 3
    assert EvidenceLeaf.objects.filter(tenant=acme).exists()

    evidence_integrate_all()

    label = ChainHead.objects.get(tenant=acme).tenant_label
    for body in answers:
        record = EvidenceRecord.objects.get(public_id=body["evidence"]["id"])
        assert record.subject == body["decision_id"]
        assert leaf_hash(record_document(record, label)) == body["evidence"]["leaf_hash"]
        assert Decision.objects.get(public_id=body["decision_id"]).evidence_id == record.pk
    assert not EvidenceLeaf.objects.filter(tenant=acme).exists()
    assert chain_verify(tenant=acme).ok
