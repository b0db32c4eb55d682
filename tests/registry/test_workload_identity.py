"""Workload identity: CI OIDC tokens verified against a real JWKS server on loopback, bound to one agent."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.test import Client

from core.roles import Role
from evidence.models import Decision
from policies.services import policy_pack_upload, rollout_set
from registry.models import WorkloadIdentityBinding
from registry.services import agent_update, workload_identity_bind, workload_identity_set_enabled
from tenants.models import AuditEntry
from tests.policies.conftest import TEST_PACK

pytestmark = pytest.mark.django_db

AUDIENCE = "cavra:acme"


class Provider:
    """A CI provider's OIDC endpoints on 127.0.0.1: discovery and JWKS, with keys the test signs with.
    Every instance has its own random path, so its URLs never meet another run's cached JWKS."""

    def __init__(self):
        self.keys: dict[str, tuple[str, object]] = {}  # kid -> (alg, private key)
        self.published: list[str] = []
        self.hits: dict[str, int] = {"discovery": 0, "jwks": 0}
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == provider.path + "/.well-known/openid-configuration":
                    provider.hits["discovery"] += 1
                    body = {"issuer": provider.issuer, "jwks_uri": provider.issuer + "/jwks"}
                elif self.path == provider.path + "/jwks":
                    provider.hits["jwks"] += 1
                    body = {"keys": [provider.public_jwk(kid) for kid in provider.published]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.path = "/oidc-" + secrets.token_hex(8)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}{self.path}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add_key(self, alg: str = "RS256", *, publish: bool = True) -> str:
        key = (
            ec.generate_private_key(ec.SECP256R1())
            if alg == "ES256"
            else rsa.generate_private_key(public_exponent=65537, key_size=2048)
        )
        kid = f"{alg.lower()}-{secrets.token_hex(4)}"
        self.keys[kid] = (alg, key)
        if publish:
            self.published.append(kid)
        return kid

    def public_jwk(self, kid: str) -> dict:
        alg, key = self.keys[kid]
        algorithm = jwt.get_algorithm_by_name(alg)
        return dict(json.loads(algorithm.to_jwk(key.public_key())), kid=kid, use="sig", alg=alg)

    def public_pem(self, kid: str) -> bytes:
        return (
            self.keys[kid][1]
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )

    def claims(self, **overrides) -> dict:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": "repo:acme/payments:ref:refs/heads/main",
            "repository": "acme/payments",
            "repository_owner": "acme",
            "ref": "refs/heads/main",
            "jti": secrets.token_hex(8),
            "iat": now,
            "nbf": now,
            "exp": now + 300,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, kid: str | None = None, *, signing_kid: str | None = None, **overrides) -> str:
        kid = kid or self.published[0]
        alg, key = self.keys[signing_kid or kid]
        return jwt.encode(self.claims(**overrides), key, algorithm=alg, headers={"kid": kid})

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict, claims: dict, signature: bytes = b"") -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}.{_b64(signature)}"


@pytest.fixture(autouse=True)
def http_issuers(settings):
    settings.CAVRA_WORKLOAD_IDENTITY_ALLOW_HTTP = True  # the loopback provider speaks plain HTTP


@pytest.fixture
def provider():
    p = Provider()
    p.add_key("RS256")
    yield p
    p.stop()


@pytest.fixture
def rolled_out(acme):
    version = policy_pack_upload(tenant=acme, text=TEST_PACK, actor=None)
    return rollout_set(tenant=acme, version=version, mode="enforce", actor=None)


@pytest.fixture
def ci_agent(acme, make_agent):
    return make_agent(acme, name="ci-payments", profile="ci-runner")


@pytest.fixture
def binding(ci_agent, provider):
    return workload_identity_bind(
        agent=ci_agent,
        actor=None,
        issuer=provider.issuer,
        audience=AUDIENCE,
        subject="repo:acme/payments:*",
        required_claims={"repository": "acme/*", "ref": "refs/heads/main"},
    )


def decide(token: str, **body):
    body = {"action": "read_file", "target": "src/app.py", "repository": "acme/payments", **body}
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}").post(
        "/api/v1/decisions", json.dumps(body), content_type="application/json"
    )


def refused(response, words: str) -> None:
    assert response.status_code == 401, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert words in response.json()["detail"], response.json()["detail"]


# ---------------------------------------------------------------- accepted


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_valid_token_records_a_decision_for_the_bound_agent(
    acme, rolled_out, ci_agent, binding, provider, alg
):
    kid = provider.add_key(alg)
    response = decide(provider.token(kid))
    assert response.status_code == 200, response.content
    assert response.json()["decision"] == "allow"
    decision = Decision.objects.get(public_id=response.json()["decision_id"])
    assert decision.tenant_id == acme.pk and decision.agent_ref == ci_agent.public_id
    binding.refresh_from_db()
    ci_agent.refresh_from_db()
    assert binding.last_used_at is not None and ci_agent.last_seen_at == binding.last_used_at
    # The policy still decides: a secret read by the CI job is blocked.
    assert decide(provider.token(kid), target=".env").json()["decision"] == "block"


def test_keys_are_cached_and_discovery_is_used_once(rolled_out, binding, provider):
    for _ in range(3):
        assert decide(provider.token()).status_code == 200
    assert provider.hits == {"discovery": 1, "jwks": 1}


def test_an_explicit_jwks_url_is_used_instead_of_discovery(acme, rolled_out, make_agent, provider):
    agent = make_agent(acme, profile="ci-runner")
    workload_identity_bind(
        agent=agent,
        actor=None,
        issuer=provider.issuer,
        audience=AUDIENCE,
        subject="repo:acme/*",
        jwks_url=provider.issuer + "/jwks",
    )
    assert decide(provider.token()).status_code == 200
    assert provider.hits == {"discovery": 0, "jwks": 1}


def test_cvr_tokens_keep_working_beside_jwts(acme, rolled_out, ci_agent, binding, provider, token_for):
    assert decide(token_for(ci_agent)).status_code == 200
    assert decide(provider.token()).status_code == 200


def test_the_jwt_principal_reads_only_its_own_agent(acme, globex, make_agent, ci_agent, binding, provider):
    other = make_agent(globex, name="globex-bot")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {provider.token()}")
    listed = client.get("/api/v1/agents").json()["results"]
    assert [a["id"] for a in listed] == [ci_agent.public_id]
    assert client.get(f"/api/v1/agents/{other.public_id}").status_code == 404
    # An agent never manages workload identities, not even its own.
    assert client.get(f"/api/v1/agents/{ci_agent.public_id}/workload-identities").status_code == 403


# ---------------------------------------------------------------- refused


def test_wrong_signature_is_refused(rolled_out, binding, provider):
    kid = provider.published[0]
    forger = provider.add_key("RS256", publish=False)
    refused(decide(provider.token(kid, signing_kid=forger)), "signature does not verify")
    assert not Decision.objects.exists()


def test_unknown_kid_is_refused(rolled_out, binding, provider):
    hidden = provider.add_key("RS256", publish=False)
    refused(decide(provider.token(hidden)), f"key id {hidden!r} is not in the issuer's JWKS")


def test_expired_token_is_refused(rolled_out, binding, provider):
    now = int(time.time())
    refused(decide(provider.token(iat=now - 600, nbf=now - 600, exp=now - 120)), "expired")


@pytest.mark.parametrize(
    "claims, words",
    [
        ({"nbf": "future"}, "not valid yet"),
        ({"iat": "future"}, "not valid yet"),
        ({"exp": None}, "no exp claim"),
        ({"iat": None}, "no iat claim"),
        ({"exp": "two days"}, "longer than 24 hours"),
    ],
)
def test_time_claims_must_be_sane(rolled_out, binding, provider, claims, words):
    now = int(time.time())
    values = {"future": now + 600, "two days": now + 2 * 86400}
    refused(decide(provider.token(**{k: values.get(v, v) for k, v in claims.items()})), words)


def test_wrong_audience_is_refused(rolled_out, binding, provider):
    refused(
        decide(provider.token(aud="https://someone-else.example")), "audience https://someone-else.example"
    )


def test_audience_may_be_a_list_containing_the_binding_audience(rolled_out, binding, provider):
    assert decide(provider.token(aud=["sts.example", AUDIENCE])).status_code == 200


def test_wrong_issuer_is_refused_and_never_fetched(rolled_out, binding, provider):
    stranger = Provider()
    try:
        stranger.add_key("RS256")
        refused(
            decide(stranger.token()), f"No enabled workload identity is bound for issuer {stranger.issuer}"
        )
        assert stranger.hits == {"discovery": 0, "jwks": 0}  # the token's own iss never picks a URL
        # Claiming the bound issuer does not help a key the issuer never published.
        forged = jwt.encode(
            provider.claims(),
            stranger.keys[stranger.published[0]][1],
            algorithm="RS256",
            headers={"kid": provider.published[0]},
        )
        refused(decide(forged), "signature does not verify")
    finally:
        stranger.stop()


def test_alg_none_is_refused(rolled_out, binding, provider):
    token = _unsigned({"alg": "none", "typ": "JWT", "kid": provider.published[0]}, provider.claims())
    refused(decide(token), "algorithm 'none' is not accepted")


def test_hs256_with_the_public_key_as_secret_is_refused(rolled_out, binding, provider):
    kid = provider.published[0]
    header, claims = {"alg": "HS256", "typ": "JWT", "kid": kid}, provider.claims()
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(provider.public_pem(kid), signing_input.encode(), hashlib.sha256).digest()
    refused(decide(f"{signing_input}.{_b64(signature)}"), "algorithm 'HS256' is not accepted")
    assert provider.hits["jwks"] == 0


@pytest.mark.parametrize(
    "claims",
    [
        {"ref": "refs/heads/feature"},
        {"repository": "evil/payments"},
        {"repository": None},
        {"repository": ["acme/payments"]},
        {"sub": "repo:acme/other:ref:refs/heads/main"},
    ],
)
def test_claims_not_matching_the_globs_are_refused(rolled_out, binding, provider, claims):
    refused(decide(provider.token(**claims)), "No enabled workload identity binding matches this token")


def test_two_matching_bindings_are_ambiguous_never_guessed(acme, rolled_out, make_agent, binding, provider):
    workload_identity_bind(
        agent=make_agent(acme, profile="ci-runner"),
        actor=None,
        issuer=provider.issuer,
        audience=AUDIENCE,
        subject="repo:acme/*",
    )
    refused(decide(provider.token()), "Ambiguous workload identity: 2 bindings match")
    assert not Decision.objects.exists()


def test_a_disabled_binding_is_refused(rolled_out, binding, provider):
    workload_identity_set_enabled(binding=binding, actor=None, enabled=False)
    refused(decide(provider.token()), "No enabled workload identity is bound")
    workload_identity_set_enabled(binding=binding, actor=None, enabled=True)
    assert decide(provider.token()).status_code == 200


def test_a_retired_agent_is_refused(rolled_out, ci_agent, binding, provider):
    agent_update(agent=ci_agent, actor=None, status="retired")
    refused(decide(provider.token()), "retired")


def test_jwks_outage_is_401_never_allow(rolled_out, binding, provider):
    provider.stop()
    response = decide(provider.token())
    refused(response, "could not be reached")
    assert response.json()["type"].endswith("/identity-provider-unreachable")
    assert not Decision.objects.exists()


def test_key_rotation_is_picked_up_after_one_refetch(rolled_out, binding, provider):
    old = provider.published[0]
    assert decide(provider.token(old)).status_code == 200
    new = provider.add_key("ES256")
    provider.published = [new]  # the provider rotated: the old key is gone, the new one published
    assert decide(provider.token(new)).status_code == 200
    assert provider.hits["jwks"] == 2


def test_unknown_kids_cannot_amplify_jwks_fetches(rolled_out, binding, provider):
    assert decide(provider.token()).status_code == 200
    for _ in range(5):
        forged = provider.add_key("RS256", publish=False)
        refused(decide(provider.token(forged)), "is not in the issuer's JWKS")
    assert provider.hits["jwks"] == 2  # the first fetch, and one refetch for the first unknown kid


def test_malformed_jwts_are_refused(db, client):
    for token in ("a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30.", "x" * 5000 + ".y.z" + "z" * 5000):
        response = client.post(
            "/api/v1/decisions", "{}", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
        )
        assert response.status_code == 401, (token[:20], response.content)


# ---------------------------------------------------------------- tenants


def test_a_jwt_never_reaches_another_tenants_agent(
    acme, globex, rolled_out, make_agent, ci_agent, binding, provider
):
    globex_agent = make_agent(globex, name="globex-ci", profile="ci-runner")
    workload_identity_bind(
        agent=globex_agent,
        actor=None,
        issuer=provider.issuer,
        audience="cavra:globex",
        subject="repo:globex/*",
    )
    # acme's job reaches acme's agent only.
    response = decide(provider.token())
    assert Decision.objects.get(public_id=response.json()["decision_id"]).tenant_id == acme.pk
    # A job that asks for globex's audience but comes from acme's repository matches nothing.
    refused(decide(provider.token(aud="cavra:globex")), "No enabled workload identity binding matches")
    # globex cannot bind acme's audience with this issuer, so it can never catch acme's jobs.
    with pytest.raises(Exception) as excinfo:
        workload_identity_bind(
            agent=globex_agent, actor=None, issuer=provider.issuer, audience=AUDIENCE, subject="repo:*"
        )
    assert "audience" in excinfo.value.message_dict
    assert not Decision.objects.filter(tenant=globex).exists()


# ---------------------------------------------------------------- the bind API


@pytest.fixture
def operator_client(acme, member, client_as):
    return client_as(member(acme, Role.OPERATOR), acme)


def _post(client, agent, body):
    return client.post(
        f"/api/v1/agents/{agent.public_id}/workload-identities",
        json.dumps(body),
        content_type="application/json",
    )


def test_bind_list_and_unbind_through_the_api(acme, rolled_out, operator_client, ci_agent, provider):
    response = _post(
        operator_client,
        ci_agent,
        {
            "issuer": provider.issuer,
            "audience": AUDIENCE,
            "subject": "repo:acme/payments:*",
            "required_claims": {"ref": "refs/heads/main"},
        },
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["id"].startswith("wid_") and created["agent"] == ci_agent.public_id
    assert created["required_claims"] == {"ref": "refs/heads/main"} and created["enabled"] is True
    listed = operator_client.get(f"/api/v1/agents/{ci_agent.public_id}/workload-identities").json()
    assert [b["id"] for b in listed] == [created["id"]]
    assert decide(provider.token()).status_code == 200

    url = f"/api/v1/agents/{ci_agent.public_id}/workload-identities/{created['id']}"
    assert operator_client.delete(url).status_code == 204
    assert not WorkloadIdentityBinding.objects.exists()
    refused(decide(provider.token()), "No enabled workload identity is bound")
    actions = set(AuditEntry.objects.filter(tenant=acme).values_list("action", flat=True))
    assert {"registry.workload_identity.bind", "registry.workload_identity.unbind"} <= actions


@pytest.mark.parametrize(
    "change, field",
    [
        ({"issuer": "ftp://idp.example"}, "issuer"),
        ({"issuer": "not a url"}, "issuer"),
        ({"issuer": ""}, "issuer"),
        ({"audience": ""}, "audience"),
        ({"subject": "*"}, "subject"),
        ({"subject": ""}, "subject"),
        ({"jwks_url": "https://idp.example/jwks?x=1"}, "jwks_url"),
        ({"required_claims": ["ref"]}, "required_claims"),
        ({"required_claims": {"exp": "1"}}, "required_claims"),
        ({"required_claims": {"bad name": "x"}}, "required_claims"),
        ({"required_claims": {"ref": {"nested": 1}}}, "required_claims.ref"),
    ],
)
def test_bad_input_names_the_field(acme, operator_client, ci_agent, change, field):
    body = {
        "issuer": "https://token.actions.githubusercontent.com",
        "audience": AUDIENCE,
        "subject": "repo:acme/*",
    }
    response = _post(operator_client, ci_agent, {**body, **change})
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()


def test_https_is_required_outside_development(settings, operator_client, ci_agent):
    settings.CAVRA_WORKLOAD_IDENTITY_ALLOW_HTTP = False
    body = {"issuer": "http://idp.example", "audience": AUDIENCE, "subject": "repo:acme/*"}
    response = _post(operator_client, ci_agent, body)
    assert response.status_code == 400 and "https://" in response.json()["errors"]["issuer"][0]


def test_another_tenants_agent_is_404_on_the_bind_api(globex, make_agent, operator_client):
    other = make_agent(globex)
    body = {
        "issuer": "https://token.actions.githubusercontent.com",
        "audience": AUDIENCE,
        "subject": "repo:acme/*",
    }
    assert _post(operator_client, other, body).status_code == 404


def test_admin_lists_own_tenant_and_deletes_through_the_service(
    acme, globex, member, client_as, make_agent, binding
):
    other = workload_identity_bind(
        agent=make_agent(globex),
        actor=None,
        issuer="https://token.actions.githubusercontent.com",
        audience="cavra:globex",
        subject="repo:globex/*",
    )
    admin_client = client_as(member(acme, Role.TENANT_ADMIN), acme)
    page = admin_client.get("/admin/registry/workloadidentitybinding/").content.decode()
    assert binding.public_id in page and other.public_id not in page
    url = f"/admin/registry/workloadidentitybinding/{binding.pk}/delete/"
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not WorkloadIdentityBinding.objects.filter(pk=binding.pk).exists()
    assert AuditEntry.objects.filter(action="registry.workload_identity.unbind").exists()
    admin_client.post(f"/admin/registry/workloadidentitybinding/{other.pk}/delete/", {"post": "yes"})
    assert WorkloadIdentityBinding.objects.filter(pk=other.pk).exists()
