"""Odd query strings and bodies on every AISPM page and endpoint: 4xx or a normal answer, never a 500."""

import json

import pytest

from aispm.models import Finding

URLS = [
    "/api/v1/aispm/posture?days=0",
    "/api/v1/aispm/posture?days=abc",
    "/api/v1/aispm/posture?days=99999999999999999999",
    "/api/v1/aispm/findings?status=x",
    "/api/v1/aispm/findings?surface=%F0%9F%98%80",
    "/api/v1/aispm/findings?cursor=zzz",
    "/api/v1/aispm/findings?page_size=100000",
    "/api/v1/aispm/findings/fnd_nope",
    "/api/v1/aispm/findings/" + "a" * 5000,
    "/api/v1/aispm/timeline?kind=" + "k" * 500,
    "/api/v1/aispm/control-coverage?days=-1",
    "/api/v1/aispm/control-coverage?framework=" + "x" * 100,
    "/api/v1/aispm/near-misses?days=366",
    "/aispm/?days=-5",
    "/aispm/score/?surface=zzz",
    "/aispm/score/?repository=" + "r" * 5000,
    "/aispm/near-misses/?by=rule_id&rule_id=" + "x" * 3000,
    "/aispm/findings/?status=bogus&page=-1",
    "/aispm/coverage/soc2/controls/%20/",
    "/aispm/trend.csv?days=0",
    "/aispm/timeline/?kind=%ED%A0%80",
]


@pytest.mark.parametrize("url", URLS)
def test_no_500(acme, member, client_as, url):
    c = client_as(member(acme, "tenant_admin", "compliance_officer"), acme)
    r = c.get(url)
    assert r.status_code < 500, (url, r.status_code, r.content[:300])


@pytest.mark.parametrize(
    "body",
    [
        {"action": 1},
        {"action": "risk_accept", "reason": ["x"], "until": "x"},
        {"action": "risk_accept", "reason": "x", "until": "9999-12-31T00:00:00Z"},
        {"action": "acknowledge", "note": "x" * 5000},
        [],
        "s",
        {"action": "resolve", "note": None},
    ],
)
def test_transition_no_500(acme, member, client_as, body):
    f = Finding.objects.create(
        tenant=acme, check_id="c", subject_key="s", title="t", surface="general_policy", severity="low"
    )
    c = client_as(member(acme, "compliance_officer"), acme)
    r = c.post(
        f"/api/v1/aispm/findings/{f.public_id}/transitions", json.dumps(body), content_type="application/json"
    )
    assert r.status_code < 500, (body, r.status_code, r.content[:300])
    r = c.post(
        f"/aispm/findings/{f.public_id}/transition/",
        body
        if isinstance(body, dict) and all(v is not None and not isinstance(v, list) for v in body.values())
        else {"action": "zzz"},
    )
    assert r.status_code < 500
