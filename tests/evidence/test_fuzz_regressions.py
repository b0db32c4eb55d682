"""Inputs schemathesis found that failed in the database or the canonicalizer: each is now a 4xx."""

from __future__ import annotations

import pytest

from tests.factories import EvidenceRecordFactory

pytestmark = pytest.mark.django_db

TOO_BIG = 2**53  # one past the largest integer canonical JSON (and so an evidence seq) can hold


@pytest.mark.parametrize("url", ["/api/v1/evidence/bundles", "/api/v1/evidence/verification"])
@pytest.mark.parametrize("field", ["first_seq", "last_seq"])
@pytest.mark.parametrize("value", [TOO_BIG, 10**20])
def test_seq_beyond_what_evidence_can_hold_is_a_400(acme, auditor_client, url, field, value):
    EvidenceRecordFactory.create_batch(2, tenant=acme)
    response = auditor_client.post(url, {field: value}, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert field in response.json()["errors"]


def test_record_id_with_a_nul_is_a_400(acme, auditor_client):
    response = auditor_client.get("/api/v1/evidence/records/evd_a%00b")
    assert response.status_code == 400, response.content
