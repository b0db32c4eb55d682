"""Bundles exported from the database verify offline; retention purges behind a signed cut; legal hold."""

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from cavra_engine.evidence.verify import verify_bundle
from evidence.models import AgentSession, Checkpoint, Decision, EvidenceRecord
from evidence.services import (
    EvidenceError,
    LegalHoldActive,
    bundle_export,
    chain_verify,
    checkpoint_create,
    retention_policy_update,
    retention_purge,
    signing_key_rotate,
    trust_root_export,
)
from tests.evidence.activity import open_session, record_decision

pytestmark = pytest.mark.django_db


def _decisions(tenant, n, **kw):
    session = open_session(
        tenant, agent_ref=kw.get("agent_ref", "agt_ci"), repository=kw.get("repository", "acme/api")
    )
    for i in range(n):
        record_decision(tenant, session, action="execute_command", target=f"make test-{i}",
                        decision="allow" if i % 3 else "block", rule_id="commands.allow", severity="low", reason="ok",
                        policy={"pack": "base", "version": "1", "digest": "sha256:ab", "mode": "enforce"})  # fmt: skip
    return session


def test_decision_links_its_evidence(acme):
    session = _decisions(acme, 1)
    decision = Decision.objects.get(tenant=acme)
    assert decision.public_id.startswith("dec_") and session.public_id.startswith("ses_")
    assert decision.evidence.payload["decision_id"] == decision.public_id
    assert decision.evidence.session_ref == session.public_id and decision.evidence.decision == "block"


def test_full_bundle_verifies_offline_with_the_exported_trust_root(acme):
    _decisions(acme, 5)
    checkpoint_create(tenant=acme)  # signed with the first key
    signing_key_rotate(tenant=acme)
    _decisions(acme, 5)
    export = bundle_export(tenant=acme)
    report = verify_bundle(export.data, trust_root=trust_root_export(acme))
    assert report.ok, report.problems
    assert report.summary["first_seq"] == 1 and len(report.summary["signing_keys"]) == 2
    flipped = bytearray(export.data)
    flipped[len(flipped) // 3] ^= 0x10
    assert not verify_bundle(bytes(flipped)).ok
    assert EvidenceRecord.objects.filter(tenant=acme, kind="evidence.bundle.exported").exists()


def test_session_bundle_spans_from_first_match_to_a_covering_checkpoint(acme):
    _decisions(acme, 3, agent_ref="agt_other")
    session = _decisions(acme, 4)
    _decisions(acme, 3, agent_ref="agt_third")
    export = bundle_export(tenant=acme, session=session.public_id)
    report = verify_bundle(export.data)
    assert report.ok, report.problems
    matched = report.summary["selection"]["matched_seqs"]
    assert export.matched == len(matched) == 5  # session.opened + 4 decisions
    # v2: no checkpoint before the first match, so the bundle is anchored at the genesis (seq 1)
    assert export.first_seq == 1 < matched[0] and export.last_seq >= matched[-1]
    assert report.summary["format"] == "cavra.evidence.bundle/v2"
    assert bundle_export(tenant=acme, agent="agt_third").matched == 4
    with pytest.raises(EvidenceError, match="No evidence records match"):
        bundle_export(tenant=acme, repository="nope/nope")


def test_filtered_bundle_starts_right_after_the_checkpoint_before_its_first_match(acme):
    _decisions(acme, 3, agent_ref="agt_other")
    early = checkpoint_create(tenant=acme)
    _decisions(acme, 2, agent_ref="agt_other")
    _decisions(acme, 3, agent_ref="agt_late")
    export = bundle_export(tenant=acme, agent="agt_late")
    report = verify_bundle(export.data)
    assert report.ok, report.problems
    assert export.first_seq == early.seq + 1
    assert report.summary["selection"]["matched_seqs"][0] > export.first_seq


def test_bundle_of_an_open_selection_runs_to_the_latest_checkpoint(acme):
    _decisions(acme, 4)
    older = bundle_export(tenant=acme)
    _decisions(acme, 2)
    newer = bundle_export(tenant=acme)
    assert verify_bundle(newer.data).ok
    assert newer.last_seq > older.last_seq
    bounded = bundle_export(tenant=acme, last_seq=older.last_seq)
    report = verify_bundle(bounded.data)
    assert report.ok, report.problems
    assert report.summary["latest_checkpoint"] == newer.last_seq > bounded.last_seq


def test_retention_purges_behind_a_signed_cut_and_the_rest_still_verifies(acme, append):
    _decisions(acme, 6)
    retention_policy_update(tenant=acme, retention_days=365)
    assert retention_purge(tenant=acme).purged == 0  # nothing is a year old yet
    boundary = timezone.now()
    append(acme, 3)
    result = retention_purge(tenant=acme, now=boundary + timedelta(days=365))
    cut = result.cut_seq
    assert result.purged == cut == 9  # tenant created, session opened, 6 decisions, retention set
    assert Checkpoint.objects.get(tenant=acme, seq=cut).reason == "retention_cut"
    assert not EvidenceRecord.objects.filter(tenant=acme, created_at__lt=boundary).exists()
    assert not EvidenceRecord.objects.filter(tenant=acme, seq__lte=cut).exists()
    assert EvidenceRecord.objects.filter(tenant=acme, kind="evidence.retention.purged").exists()
    assert not Decision.objects.filter(tenant=acme, evidence__isnull=True).exists()
    run = chain_verify(tenant=acme)
    assert run.ok, run.problems
    assert run.first_seq == cut + 1
    report = verify_bundle(bundle_export(tenant=acme).data)
    assert report.ok, report.problems
    assert (
        report.summary["first_seq"] == cut + 1 and report.summary["checkpoints"] >= 2
    )  # the cut anchors the start
    assert AgentSession.objects.filter(tenant=acme).exists()


def test_purge_gate_is_closed_outside_the_purge(acme, append):
    append(acme, 3)
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE evidence_chainhead SET purged_through = 2 WHERE tenant_id = %s", [acme.pk])
            cursor.execute("DELETE FROM evidence_evidencerecord WHERE tenant_id = %s AND seq <= 2", [acme.pk])


def test_legal_hold_blocks_purge_and_is_audited(acme, append):
    append(acme, 2)
    with pytest.raises(EvidenceError, match="needs a reason"):
        retention_policy_update(tenant=acme, legal_hold=True)
    retention_policy_update(tenant=acme, legal_hold=True, legal_hold_reason="Case 2026-17")
    with pytest.raises(LegalHoldActive, match="Case 2026-17"):
        retention_purge(tenant=acme, now=timezone.now() + timedelta(days=4000))
    assert EvidenceRecord.objects.filter(tenant=acme, seq=1).exists()
    kinds = list(
        EvidenceRecord.objects.filter(tenant=acme, kind="evidence.retention.updated").values_list(
            "payload__after__legal_hold", flat=True
        )
    )
    assert kinds == [True]
