"""API skeleton: identity, problem details for every error, schema and docs served without a CDN."""

from __future__ import annotations

import pytest

from core.roles import Role

pytestmark = pytest.mark.django_db


def test_me_reports_tenant_and_roles(acme, globex, member, client_as):
    user = member(acme, Role.OPERATOR, Role.AUDITOR, email="me@acme.test")
    member(globex, Role.EXECUTIVE, email="me@acme.test")
    body = client_as(user, acme).get("/api/v1/me").json()
    assert body["tenant"] == {"slug": "acme", "name": "Acme Corp"}
    assert body["roles"] == ["auditor", "operator"]
    assert [t["slug"] for t in body["tenants"]] == ["acme", "globex"]


def test_errors_are_problem_details(acme, member, client_as):
    client = client_as(member(acme, Role.AUDITOR), acme)
    missing = client.get("/api/v1/does-not-exist")
    assert missing.status_code == 404 and missing["Content-Type"] == "application/problem+json"
    assert missing.json()["status"] == 404 and missing.json()["title"] == "Not Found"
    forbidden = client.get("/api/v1/members")
    assert forbidden.status_code == 403 and forbidden["Content-Type"] == "application/problem+json"
    assert set(forbidden.json()) >= {"type", "title", "status", "detail"}


def test_anonymous_api_gets_problem_not_login_page(db, client):
    response = client.get("/api/v1/me")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"


def test_member_list_is_tenant_scoped_and_uses_public_ids(acme, globex, member, client_as):
    admin = member(acme, Role.TENANT_ADMIN, email="a@acme.test")
    member(globex, Role.AUDITOR, email="g@globex.test")
    body = client_as(admin, acme).get("/api/v1/members").json()
    emails = [m["email"] for m in body["results"]]
    assert emails == ["a@acme.test"]
    assert body["results"][0]["id"].startswith("mem_")


def test_member_list_query_count_is_fixed(acme, member, client_as, django_assert_max_num_queries):
    admin = member(acme, Role.TENANT_ADMIN)
    for _ in range(15):
        member(acme, Role.AUDITOR)
    client = client_as(admin, acme)
    client.get("/api/v1/members")
    # One query each for the whole page: MFA enrolment, SSO links, the break-glass admin (tenants.members).
    with django_assert_max_num_queries(10):
        client.get("/api/v1/members")


def test_schema_and_docs_use_local_assets(db, client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200 and b"/api/v1/me" in schema.content
    docs = client.get("/api/docs/").content.decode()
    assert "cdn" not in docs.lower() and "/static/drf_spectacular_sidecar/" in docs
