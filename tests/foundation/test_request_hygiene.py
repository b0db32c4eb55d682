"""A NUL anywhere in the URL is a 400 for pages and API alike, never a 500."""

from __future__ import annotations

import pytest

from core.roles import Role

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        "/policies/activity/sessions/?repository=a%00b",
        "/policies/activity/?rule_id=%00",
        "/api/v1/decisions?agent=x%00",
    ],
)
def test_nul_in_query_is_a_400(acme, member, client_as, url):
    client = client_as(member(acme, Role.SECURITY_REVIEWER), acme)
    response = client.get(url)
    assert response.status_code == 400


def test_api_400_is_a_problem(acme, member, client_as):
    client = client_as(member(acme, Role.SECURITY_REVIEWER), acme)
    response = client.get("/api/v1/sessions?repository=%00")
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert "Null characters" in response.json()["detail"]
