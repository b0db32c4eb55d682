"""The licence status page, the banner, and the upload: every state, who sees what, evidence, caching."""

from __future__ import annotations

import os
import re
from unittest import mock

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.roles import ALL_ROLES, Role
from evidence.models import EvidenceRecord
from licensing import selectors
from licensing.models import LicenceUpload
from tests.factories import UserFactory
from tests.support.clients import logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(acme, client_with_role):
    return client_with_role(acme, Role.TENANT_ADMIN)


@pytest.fixture
def platform_admin(db):
    return UserFactory(email="platform@cavra.test", is_superuser=True, is_staff=True)


def _state(page) -> str:
    return page.content.decode().split('data-state="', 1)[1].split('"', 1)[0]


def _banner(page) -> str:
    html = page.content.decode()
    if 'data-testid="licence-banner"' not in html:
        return ""
    inner = html.split('data-testid="licence-banner">', 1)[1].split("</div>", 1)[0]
    return " ".join(re.sub(r"<[^>]+>", "", inner).split())


def test_missing_licence_is_community_with_a_banner(admin_client):
    page = admin_client.get("/licence/")
    assert page.status_code == 200 and _state(page) == "missing"
    assert "No licence is installed" in page.content.decode()
    assert "Licence missing" in _banner(admin_client.get("/"))


@pytest.mark.parametrize(
    "edition, fields, state, says",
    [
        ("business", {"days": 200}, "active", "Licensed until"),
        ("trial", {"days": 12}, "trial", "Trial licence until"),
        (
            "enterprise",
            {"suspended": True, "suspension_reason": "unpaid invoice"},
            "suspended",
            "unpaid invoice",
        ),
        ("business", {"days": -3}, "expired", "3 days ago"),
    ],
)
def test_each_state_on_the_page(admin_client, issue, licence_file, edition, fields, state, says):
    licence_file(issue(edition, **fields))
    page = admin_client.get("/licence/")
    html = page.content.decode()
    assert _state(page) == state and says in html
    assert "Acme Corp" in html and edition.title() in html


@pytest.mark.parametrize(
    "make, says",
    [
        (lambda issue: b"\xff\xfegarbage", "not UTF-8"),
        (lambda issue: issue().replace('"seats": 50', '"seats": 5000').encode(), "signature does not match"),
        (lambda issue: issue(key=Ed25519PrivateKey.generate()).encode(), "not a trusted vendor key"),
    ],
    ids=["garbage", "tampered", "wrong-key"],
)
def test_an_untrustworthy_file_is_unknown_and_says_why(admin_client, issue, licence_file, make, says):
    licence_file(make(issue))
    page = admin_client.get("/licence/")
    assert _state(page) == "unknown" and says in page.content.decode()
    assert says in _banner(admin_client.get("/"))


def test_a_configured_file_that_does_not_exist_is_missing(admin_client, settings, tmp_path):
    settings.CAVRA_LICENSE_FILE = str(tmp_path / "nowhere.json")
    assert _state(admin_client.get("/licence/")) == "missing"


def test_banner_counts_days_left_within_30_days_and_is_quiet_before(admin_client, issue, licence_file):
    path = licence_file(issue("business", days=200))
    assert _banner(admin_client.get("/")) == ""
    path.write_text(issue("business", days=12))
    os.utime(path, ns=(1, 1))  # a new mtime, whatever the filesystem's resolution
    banner = _banner(admin_client.get("/"))
    assert "Licence active: 12 days left" in banner and "Decisions are not affected" in banner


def test_banner_for_trial_expired_and_suspended(admin_client, issue, licence_file):
    path = licence_file(issue("trial", days=200))
    assert "Licence trial: 200 days left of the trial" in _banner(admin_client.get("/"))
    for text, says in (
        (issue("business", days=-1), "Licence expired: The licence expired on"),
        (issue("business", suspended=True), "Licence suspended: The vendor suspended this licence."),
    ):
        path.write_text(text)
        os.utime(path, ns=(hash(text) % 10**9, hash(text) % 10**9))
        assert says in _banner(admin_client.get("/"))


def test_seats_exceeded_shows_in_the_banner_and_on_the_page(
    acme, globex, admin_client, member, issue, licence_file
):
    licence_file(issue("business", seats=3, days=200))
    member(acme, Role.AUDITOR)
    member(globex, Role.AUDITOR, email="both@example.test")
    member(acme, Role.OPERATOR, email="both@example.test")  # one person in two tenants is one seat
    assert _banner(admin_client.get("/")) == ""  # admin + auditor + both = 3 of 3
    member(globex, Role.OPERATOR)
    assert "4 active members exceed the 3 licensed seats" in _banner(admin_client.get("/"))
    page = admin_client.get("/licence/").content.decode()
    assert "4 used of 3" in page and 'data-testid="licence-seats-exceeded"' in page


def test_deactivated_accounts_do_not_take_a_seat(acme, admin_client, member, issue, licence_file):
    licence_file(issue("business", seats=1, days=200))
    assert _banner(admin_client.get("/")) == ""
    gone = member(acme, Role.AUDITOR)
    gone.is_active = False
    gone.save(update_fields=["is_active"])
    assert _banner(admin_client.get("/")) == ""


@pytest.mark.parametrize("role", [r for r in ALL_ROLES if r != Role.TENANT_ADMIN])
def test_other_roles_get_no_page_and_no_banner(acme, client_with_role, role):
    client = client_with_role(acme, role)
    assert client.get("/licence/").status_code == 403
    assert _banner(client.get("/")) == ""
    assert client.post("/licence/upload/", {}).status_code == 403


def test_a_tenant_admin_reads_but_may_not_upload(acme, admin_client, issue):
    page = admin_client.get("/licence/").content.decode()
    assert "Upload licence" not in page
    upload = SimpleUploadedFile("l.json", issue().encode())
    assert admin_client.post("/licence/upload/", {"licence_file": upload}).status_code == 403
    assert not LicenceUpload.objects.exists()


def test_a_platform_admin_without_a_tenant_installs_then_replaces(acme, globex, platform_admin, issue):
    client = logged_in(platform_admin)
    assert "Upload licence" in client.get("/licence/").content.decode()
    first = client.post(
        "/licence/upload/", {"licence_file": SimpleUploadedFile("l.json", issue(days=300).encode())}
    )
    assert first.status_code == 302
    page = client.get("/licence/")
    assert _state(page) == "active" and "uploaded on this page" in page.content.decode()
    for tenant in (acme, globex):
        record = EvidenceRecord.objects.get(tenant=tenant, kind="licence.installed")
        assert record.subject == "licence:lic_test0001" and record.actor == "user:platform@cavra.test"
        assert record.payload["edition"] == "business" and record.payload["previous"] is None
    second = issue("enterprise", days=400, licence_id="lic_test0002")
    client.post("/licence/upload/", {"licence_file": SimpleUploadedFile("l2.json", second.encode())})
    assert "Enterprise" in client.get("/licence/").content.decode()
    replaced = EvidenceRecord.objects.get(tenant=acme, kind="licence.replaced")
    assert replaced.payload["previous"]["licence_id"] == "lic_test0001"
    assert replaced.payload["licence_id"] == "lic_test0002"
    assert LicenceUpload.objects.count() == 2


@pytest.mark.parametrize(
    "make, status, says",
    [
        (lambda issue: "", 422, "submitted file is empty"),
        (lambda issue: "{}", 422, "This licence cannot be installed: `format` must be"),
        (lambda issue: issue().replace("Acme Corp", "Evil Corp"), 422, "signature does not match"),
        (lambda issue: issue(days=-1), 422, "This licence cannot be installed: The licence expired on"),
    ],
    ids=["empty", "not-a-licence", "tampered", "expired"],
)
def test_a_bad_upload_answers_422_naming_the_field_and_changes_nothing(
    acme, platform_admin, issue, make, status, says
):
    client = logged_in(platform_admin)
    data = {"licence_file": SimpleUploadedFile("l.json", make(issue).encode())}
    answer = client.post("/licence/upload/", data, HTTP_HX_REQUEST="true")
    html = answer.content.decode()
    assert answer.status_code == status and says in html and 'id="licence_file-error"' in html
    assert not LicenceUpload.objects.exists()
    assert not EvidenceRecord.objects.filter(kind__startswith="licence.").exists()


def test_the_same_licence_twice_is_refused(platform_admin, issue):
    client = logged_in(platform_admin)
    text = issue()
    client.post("/licence/upload/", {"licence_file": SimpleUploadedFile("l.json", text.encode())})
    again = client.post("/licence/upload/", {"licence_file": SimpleUploadedFile("l.json", text.encode())})
    assert again.status_code == 422 and "already installed" in again.content.decode()


def test_upload_is_refused_while_a_licence_file_is_configured(platform_admin, issue, licence_file):
    licence_file(issue())
    client = logged_in(platform_admin)
    answer = client.post(
        "/licence/upload/",
        {"licence_file": SimpleUploadedFile("l.json", issue(licence_id="lic_other01").encode())},
    )
    assert answer.status_code == 409 and "CAVRA_LICENSE_FILE" in answer.content.decode()
    assert not LicenceUpload.objects.exists()


def test_the_licence_is_parsed_once_per_file_version(admin_client, issue, licence_file):
    path = licence_file(issue(days=10))
    with mock.patch.object(selectors, "licence_read", wraps=selectors.licence_read) as read:
        for _ in range(3):
            admin_client.get("/")
            admin_client.get("/licence/")
        assert read.call_count == 1
        path.write_text(issue(days=11))
        os.utime(path, ns=(5, 5))
        assert "11 days left" in _banner(admin_client.get("/"))
        assert read.call_count == 2


def test_a_page_runs_the_same_queries_whether_or_not_the_licence_was_parsed(
    admin_client, platform_admin, issue
):
    logged_in(platform_admin).post(
        "/licence/upload/", {"licence_file": SimpleUploadedFile("l.json", issue(days=5).encode())}
    )
    selectors._parsed.clear()  # the first page parses, the second finds it cached
    counts = []
    for _ in range(2):
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client.get("/licence/").status_code == 200
        counts.append(len(ctx))
    assert counts[0] == counts[1], counts


def test_members_without_the_capability_run_no_licence_query(acme, client_with_role):
    client = client_with_role(acme, Role.SECURITY_REVIEWER)
    with CaptureQueriesContext(connection) as ctx:
        client.get("/")
    assert not [q for q in ctx.captured_queries if "licensing_licenceupload" in q["sql"]]


def test_htmx_fragments_run_no_licence_query(admin_client):
    with CaptureQueriesContext(connection) as ctx:
        admin_client.get("/tenants/members/", HTTP_HX_REQUEST="true")
    assert not [q for q in ctx.captured_queries if "licensing_licenceupload" in q["sql"]]
