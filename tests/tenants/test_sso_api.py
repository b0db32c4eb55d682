"""SSO self-service through the API: the same services as the page, problem details naming the field."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from core.roles import Role
from tenants.models import AuditEntry, RoleMapping, SsoProvider
from tests.support.oidc_provider import IdpUser, OidcProvider
from tests.tenants.test_sso import sso_sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def idp():
    with OidcProvider(client_id="cavra-api", client_secret="api-secret") as provider:
        yield provider


@pytest.fixture
def api(acme, member):
    admin = member(acme, Role.TENANT_ADMIN, email="api-admin@acme.test")
    client = APIClient()
    client.force_login(admin)
    session = client.session
    session["cavra_tenant_id"] = acme.pk
    session.save()
    return client


def test_provider_put_get_state_test_and_mappings_end_to_end(acme, idp, api):
    assert api.get("/api/v1/sso/provider").status_code == 404
    body = {
        "name": "Acme IdP",
        "issuer_url": idp.issuer,
        "client_id": idp.client_id,
        "client_secret": idp.client_secret,
        "email_domains": "acme.test",
    }
    put = api.put("/api/v1/sso/provider", body, format="json")
    assert put.status_code == 200, put.content
    data = put.json()
    assert "client_secret" not in data and data["client_secret_set"] is True
    assert data["redirect_uri"] == "http://testserver/accounts/oidc/acme-acme-idp/login/callback/"
    assert (data["enabled"], data["jit_provisioning"], data["scopes"]) == (
        False,
        True,
        "openid email profile",
    )

    test = api.post("/api/v1/sso/provider/test", {}, format="json").json()
    assert (
        test["ok"] is True
        and test["error"] == ""
        and [s["step"] for s in test["steps"]]
        == [
            "Discovery document",
            "Signing keys (JWKS)",
        ]
    )
    state = api.post("/api/v1/sso/provider/state", {"enabled": True}, format="json")
    assert state.status_code == 200 and state.json()["enabled"] is True

    mappings = {"mappings": [{"idp_group": "acme-ops", "role": "operator"}]}
    result = api.put("/api/v1/sso/role-mappings", mappings, format="json").json()
    assert result["changed"] is True and result["changes"] == []
    assert api.get("/api/v1/sso/role-mappings").json() == [{"idp_group": "acme-ops", "role": "operator"}]

    provider = SsoProvider.objects.get(tenant=acme)
    idp.user = IdpUser(sub="s1", email="sam@acme.test", claims={"groups": ["acme-ops"]})
    sso_sign_in(APIClient(), idp, provider)
    # A dry run shows Sam would lose operator and gain auditor, and changes nothing.
    dry = {"mappings": [{"idp_group": "acme-ops", "role": "auditor"}], "dry_run": True}
    preview = api.put("/api/v1/sso/role-mappings", dry, format="json").json()
    assert preview["changed"] is False
    assert preview["changes"] == [
        {"email": "sam@acme.test", "groups": ["acme-ops"], "gain": ["auditor"], "lose": ["operator"]}
    ]
    assert RoleMapping.objects.get(tenant=acme).role == "operator"
    actions = set(
        AuditEntry.objects.filter(tenant=acme, action__startswith="sso.").values_list("action", flat=True)
    )
    assert {"sso.provider_create", "sso.state_change", "sso.role_mappings_change"} <= actions


@pytest.mark.parametrize(
    ("path", "method", "body", "field"),
    [
        (
            "/api/v1/sso/provider",
            "put",
            {
                "issuer_url": "ftp://x",
                "client_id": "c",
                "client_secret": "s",
                "name": "n",
                "email_domains": "a.test",
            },
            "issuer_url",
        ),
        (
            "/api/v1/sso/provider",
            "put",
            {"issuer_url": "https://x.test", "client_id": "c", "name": "n", "email_domains": "a.test"},
            "client_secret",
        ),
        ("/api/v1/sso/provider", "put", {"jit_provisioning": "maybe"}, "jit_provisioning"),
        (
            "/api/v1/sso/role-mappings",
            "put",
            {"mappings": [{"idp_group": "g", "role": "wizard"}]},
            "mappings",
        ),
        (
            "/api/v1/sso/role-mappings",
            "put",
            {"mappings": [{"idp_group": " ", "role": "auditor"}]},
            "mappings",
        ),
        ("/api/v1/sso/role-mappings", "put", {"mappings": "g=auditor"}, "mappings"),
    ],
)
def test_bad_input_is_a_problem_naming_the_field_and_changes_nothing(acme, api, path, method, body, field):
    response = getattr(api, method)(path, body, format="json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert any(key.split(".")[0].split("[")[0] == field for key in response.json()["errors"]), response.json()
    assert not SsoProvider.objects.filter(tenant=acme).exists()
    assert not RoleMapping.objects.filter(tenant=acme).exists()
