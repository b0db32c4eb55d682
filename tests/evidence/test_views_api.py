"""Explorer pages (htmx), API (records, checkpoints, trust root, bundles, verification, SIEM), problem details."""

import json

import pytest
from django.urls import reverse

from cavra_engine.evidence.verify import verify_bundle
from evidence.models import EvidenceRecord
from evidence.services import checkpoint_create
from tests.factories import recorded_decisions
from tests.support.queries import assert_fixed_query_count

pytestmark = pytest.mark.django_db


def test_explorer_filters_and_htmx_partial(acme, auditor_client):
    session = recorded_decisions(acme, 4)
    recorded_decisions(acme, 2, agent_ref="agt_other")
    page = auditor_client.get(
        reverse("evidence:explorer"), {"session": session.public_id, "decision": "block"}
    )
    assert page.status_code == 200
    body = page.content.decode()
    assert "<h1>Evidence</h1>" in body and body.count("badge-block") == 2
    partial = auditor_client.get(reverse("evidence:explorer"), {"agent": "agt_other"}, HTTP_HX_REQUEST="true")
    text = partial.content.decode()
    assert text.lstrip().startswith('<section id="results" class="card"') and "<h1>" not in text
    bad = auditor_client.get(reverse("evidence:explorer"), {"since": "not a date"})
    assert bad.status_code == 400 and "Use a date" in bad.content.decode()


def test_explorer_query_count_does_not_grow_with_rows(acme, auditor_client):
    recorded_decisions(acme, 3)
    assert_fixed_query_count(
        lambda: auditor_client.get(reverse("evidence:explorer")), lambda: recorded_decisions(acme, 30)
    )


def test_record_detail_shows_hash_neighbours_and_checkpoint(acme, globex, auditor_client, member, client_as):
    recorded_decisions(acme, 3)
    record = EvidenceRecord.objects.filter(tenant=acme, kind="decision.recorded").order_by("seq")[1]
    checkpoint_create(tenant=acme)
    body = auditor_client.get(reverse("evidence:record", args=[record.public_id])).content.decode()
    assert record.hash in body and record.prev_hash in body
    assert f"#{record.seq - 1} " in body and f"#{record.seq + 1} " in body and "checkpoint at #" in body
    outsider = client_as(member(globex, "auditor"), globex)
    assert outsider.get(reverse("evidence:record", args=[record.public_id])).status_code == 404


def test_verification_page_runs_and_shows_last_result(acme, auditor_client):
    recorded_decisions(acme, 2)
    response = auditor_client.post(reverse("evidence:verification"), {})
    assert response.status_code == 302
    page = auditor_client.get(reverse("evidence:verification")).content.decode()
    assert "intact" in page and "All " in page and "records from #1" in page
    partial = auditor_client.post(
        reverse("evidence:verification"), {"first_seq": 2, "last_seq": 3}, HTTP_HX_REQUEST="true"
    )
    assert partial.content.decode().lstrip().startswith('<section class="card" id="verification-result"')
    invalid = auditor_client.post(reverse("evidence:verification"), {"first_seq": 5, "last_seq": 2})
    assert invalid.status_code == 422 and "Must not be below" in invalid.content.decode()


def test_bundle_download_page_and_api_verify_offline(acme, auditor_client):
    session = recorded_decisions(acme, 3)
    page = auditor_client.post(reverse("evidence:bundle"), {"session": session.public_id})
    assert page.status_code == 200 and page["Content-Type"] == "application/zip"
    assert verify_bundle(page.content).ok
    api = auditor_client.post(
        reverse("evidence-api:bundles"), {"agent": "agt_ci"}, content_type="application/json"
    )
    assert api.status_code == 200 and verify_bundle(api.content).ok
    nothing = auditor_client.post(
        reverse("evidence-api:bundles"), {"repository": "none/none"}, content_type="application/json"
    )
    assert nothing.status_code == 400 and nothing["Content-Type"] == "application/problem+json"
    assert "No evidence records match" in json.dumps(nothing.json())
    bad = auditor_client.post(
        reverse("evidence-api:bundles"), {"since": "yesterday"}, content_type="application/json"
    )
    assert bad.status_code == 400 and "since" in bad.json()["errors"]
    empty = auditor_client.post(reverse("evidence:bundle"), {"repository": "none/none"})
    assert empty.status_code == 422 and "No evidence records match" in empty.content.decode()


def test_api_records_list_filters_paginates_and_gets(acme, globex, auditor_client):
    recorded_decisions(acme, 5)
    recorded_decisions(globex, 2)
    response = auditor_client.get(reverse("evidence-api:records"), {"kind": "decision.", "page_size": 2})
    data = response.json()
    assert response.status_code == 200 and len(data["results"]) == 2 and data["next"]
    assert (
        data["results"][0]["id"].startswith("evd_") and data["results"][0]["seq"] > data["results"][1]["seq"]
    )
    seen = [r["seq"] for r in data["results"]]
    while data["next"]:
        data = auditor_client.get(data["next"]).json()
        seen += [r["seq"] for r in data["results"]]
    assert len(seen) == len(set(seen)) == 5
    one = auditor_client.get(reverse("evidence-api:record", args=[response.json()["results"][0]["id"]]))
    assert one.status_code == 200 and one.json()["hash"]
    other = EvidenceRecord.objects.filter(tenant=globex).first()
    missing = auditor_client.get(reverse("evidence-api:record", args=[other.public_id]))
    assert missing.status_code == 404 and missing["Content-Type"] == "application/problem+json"
    bad = auditor_client.get(reverse("evidence-api:records"), {"seq_from": "x"})
    assert bad.status_code == 400 and "seq_from" in bad.json()["errors"]


def test_api_list_query_count_is_fixed(acme, auditor_client):
    recorded_decisions(acme, 2)
    assert_fixed_query_count(
        lambda: auditor_client.get(reverse("evidence-api:records")), lambda: recorded_decisions(acme, 20)
    )


def test_api_checkpoints_trust_root_and_verification(acme, auditor_client):
    recorded_decisions(acme, 2)
    assert auditor_client.get(reverse("evidence-api:verification")).status_code == 404
    created = auditor_client.post(reverse("evidence-api:checkpoints"), {}, content_type="application/json")
    assert created.status_code == 201
    listed = auditor_client.get(reverse("evidence-api:checkpoints")).json()["results"]
    assert listed[0]["seq"] == created.json()["seq"]
    root = auditor_client.get(reverse("evidence-api:trust-root")).json()
    assert root["keys"][0]["key_id"] == created.json()["key_id"]
    run = auditor_client.post(
        reverse("evidence-api:verification"), {}, content_type="application/json"
    ).json()
    assert run["ok"] is True and run["problems"] == []
    assert auditor_client.get(reverse("evidence-api:verification")).json()["summary"] == run["summary"]


def test_siem_cursor_resumes_without_gaps_or_duplicates(acme, auditor_client):
    recorded_decisions(acme, 7)
    total = EvidenceRecord.objects.filter(tenant=acme).count()
    seen, after = [], 0
    while True:
        response = auditor_client.get(reverse("evidence-api:siem"), {"after": after, "limit": 3})
        lines = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
        if not lines:
            assert response["X-Next-After"] == str(after)
            break
        seen += [r["seq"] for r in lines]
        after = int(response["X-Next-After"])
        if len(seen) == 3:
            recorded_decisions(
                acme, 1
            )  # records appended while the collector is paging are picked up in order
    assert seen == list(range(1, total + 3))


def test_siem_cef_format(acme, auditor_client):
    recorded_decisions(acme, 1)
    response = auditor_client.get(reverse("evidence-api:siem"), {"output": "cef"})
    lines = b"".join(response.streaming_content).decode().splitlines()
    decision = next(line for line in lines if "|decision.recorded|" in line)
    assert decision.startswith("CEF:0|CAVRA|CAVRA Portal|1.0|decision.recorded|decision.recorded|8|")
    assert "cs1Label=evidenceId cs1=evd_" in decision and "act=allow" in decision
    assert "msg={" in decision and '"target":"rm -rf build0"' in decision


def test_retention_page_edit_rules(acme, member, client_as):
    officer = client_as(member(acme, "compliance_officer"), acme)
    response = officer.post(reverse("evidence:retention"), {"retention_days": 30, "legal_hold": "on"})
    assert response.status_code == 422 and "needs a reason" in response.content.decode()
    officer.post(
        reverse("evidence:retention"),
        {"retention_days": 30, "legal_hold": "on", "legal_hold_reason": "audit"},
    )
    assert "30 days" in officer.get(reverse("evidence:retention")).content.decode()
    auditor = client_as(member(acme, "auditor"), acme)
    assert auditor.post(reverse("evidence:retention"), {"retention_days": 1}).status_code == 403


def test_openapi_schema_documents_the_evidence_api(auditor_client):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths = schema["paths"]
    for path in ("/api/v1/evidence/records", "/api/v1/evidence/records/{public_id}", "/api/v1/evidence/checkpoints",
                 "/api/v1/evidence/trust-root", "/api/v1/evidence/bundles", "/api/v1/evidence/verification", "/api/v1/evidence/siem"):  # fmt: skip
        assert path in paths, path
    assert "application/zip" in paths["/api/v1/evidence/bundles"]["post"]["responses"]["200"]["content"]
