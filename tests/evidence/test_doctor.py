"""cavra_doctor: a readable line per check, a fix for each problem, exit status 1 when something fails."""

import io
import json

import pytest
from django.core.management import call_command

from aispm.services.findings import findings_refresh
from evidence.models import WitnessPublication
from evidence.services import checkpoint_create
from tests.factories import EvidenceRecordFactory, TenantFactory


def _doctor() -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("cavra_doctor", stdout=out)
    except SystemExit as exc:
        return int(exc.code), out.getvalue()
    return 0, out.getvalue()


def test_doctor_fails_on_an_unsigned_chain_and_names_the_fix(acme, tmp_path, monkeypatch):
    monkeypatch.setenv("CAVRA_BACKUP_DIR", str(tmp_path))
    EvidenceRecordFactory(tenant=acme, kind="decision.recorded")
    status, text = _doctor()
    assert status == 1
    assert "OK   database:" in text and "OK   redis: ping answered" in text
    assert "FAIL tree head acme:" in text and "never signed" in text, text
    assert "fix: run the checkpoint schedule" in text
    assert "FAIL backup: no backup in" in text


def test_doctor_passes_the_evidence_checks_once_signed_and_backed_up(acme, tmp_path, monkeypatch):
    EvidenceRecordFactory(tenant=acme, kind="decision.recorded")
    checkpoint_create(tenant=acme)
    (tmp_path / "b1").mkdir()
    (tmp_path / "b1" / "backup.json").write_text(json.dumps({"created_at": "2099-01-01T00:00:00.000000Z"}))
    monkeypatch.setenv("CAVRA_BACKUP_DIR", str(tmp_path))
    _status, text = _doctor()
    assert "OK   tree head acme: #" in text
    assert "OK   backup: last backup" in text
    assert "WARN witness acme:" in text
    assert "FAIL tree head" not in text and "FAIL signing key" not in text


@pytest.mark.parametrize("backend", ["django.core.mail.backends.smtp.EmailBackend"])
def test_doctor_reports_an_unreachable_smtp_server(db, settings, backend):
    settings.EMAIL_BACKEND, settings.EMAIL_HOST, settings.EMAIL_PORT = backend, "127.0.0.1", 1
    status, text = _doctor()
    assert status == 1 and "FAIL smtp: 127.0.0.1:1:" in text


def test_doctor_page_shows_the_tenants_checks_only(acme, member, client_as, settings):
    other = TenantFactory(slug="globex", name="Globex")
    EvidenceRecordFactory(tenant=acme, kind="decision.recorded")
    EvidenceRecordFactory(tenant=other, kind="decision.recorded")
    checkpoint_create(tenant=acme)
    settings.EVIDENCE_WITNESSES = ""
    response = client_as(member(acme, "tenant_admin"), acme).get("/evidence/doctor/")
    assert response.status_code == 200
    text = response.content.decode()
    for name in (
        "database",
        "redis",
        "signing key acme",
        "tree head acme",
        "chain acme",
        "witness acme",
        "backup",
    ):
        assert f"<td>{name}</td>" in text, name
    assert "EVIDENCE_WITNESSES is not set" in text and "never verified" in text
    assert "globex" not in text


def test_a_malformed_witness_setting_is_a_failed_check_naming_it(acme, settings):
    EvidenceRecordFactory(tenant=acme, kind="decision.recorded")
    settings.EVIDENCE_WITNESSES = "http://127.0.0.1:18699|not-hex"
    assert checkpoint_create(tenant=acme).root_hash  # signing goes on; only publication is skipped
    assert not WitnessPublication.objects.exists()
    assert findings_refresh(tenant=acme, check_ids={"evidence.witness_unpublished"}).opened == 0
    status, text = _doctor()
    assert (
        status == 1 and "FAIL witness acme: EVIDENCE_WITNESSES: the key after http://127.0.0.1:18699|" in text
    )
