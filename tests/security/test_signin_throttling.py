"""Finding 3: a few wrong passwords for one account must not lock anyone else out.

Failures are throttled per account with exponential backoff; the per-address limit counts only the
real client address, read from X-Forwarded-For through the configured number of trusted proxies."""

from __future__ import annotations

import random
import uuid

import pytest
from django.test import Client

from tenants.models import AuditEntry
from tenants.signin import signin_failure_count, signin_reset, signin_wait_seconds

PROXY = "10.0.0.1"


def address() -> str:
    return f"198.51.{random.randint(0, 255)}.{random.randint(1, 254)}"


def sign_in(email: str, password: str, *, remote: str = PROXY, forwarded_for: str | None = None):
    headers = {"REMOTE_ADDR": remote}
    if forwarded_for:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return Client(**headers).post("/accounts/login/", {"login": email, "password": password})


def signed_in(response) -> bool:
    return response.status_code == 302


@pytest.fixture
def people(acme, member):
    def make():
        return member(acme, "auditor", email=f"{uuid.uuid4().hex[:12]}@acme.test")

    return make


@pytest.fixture
def behind_proxy(settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1


def test_failures_for_one_account_never_lock_out_another_behind_the_proxy(behind_proxy, people):
    victim, colleague = people(), people()
    office = address()  # both work from the same office, behind the same TLS proxy
    for _ in range(12):
        assert not signed_in(sign_in(victim.email, "wrong-password", forwarded_for=office))
    assert signed_in(sign_in(colleague.email, "pw-test-123", forwarded_for=office))
    assert signed_in(sign_in(people().email, "pw-test-123", forwarded_for=address()))
    # The account that was attacked waits, even with its right password, and is told for how long.
    response = sign_in(victim.email, "pw-test-123", forwarded_for=office)
    assert not signed_in(response)
    assert "Too many failed sign-in attempts for this account" in response.content.decode()
    assert signin_wait_seconds(victim.email) > 0


def test_backoff_doubles_and_is_capped_and_success_resets(settings):
    settings.SIGNIN_FREE_FAILURES, settings.SIGNIN_BACKOFF_BASE, settings.SIGNIN_BACKOFF_MAX = 3, 10, 60
    email = f"{uuid.uuid4().hex}@example.test"
    locks = [signin_failure_count(email)[1] for _ in range(7)]
    assert locks == [0, 0, 10, 20, 40, 60, 60]
    assert 50 < signin_wait_seconds(email) <= 60
    signin_reset(email)
    assert signin_wait_seconds(email) == 0 and signin_failure_count(email) == (1, 0)


def test_the_address_limit_counts_the_real_client_not_the_proxy(behind_proxy, people, settings):
    settings.ACCOUNT_RATE_LIMITS = {"login_failed": "4/m/ip"}
    attacker = address()
    for _ in range(4):
        sign_in(people().email, "wrong", forwarded_for=attacker)
    # The attacker's own address is now limited (a right password does not help it)...
    assert not signed_in(sign_in(people().email, "pw-test-123", forwarded_for=attacker))
    # ...while everyone else behind the same proxy signs in.
    assert signed_in(sign_in(people().email, "pw-test-123", forwarded_for=address()))


def test_without_trusted_proxies_a_forged_forwarded_for_is_ignored(people, settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 0
    settings.ACCOUNT_RATE_LIMITS = {"login_failed": "4/m/ip"}
    direct = address()
    for _ in range(4):
        sign_in(people().email, "wrong", remote=direct, forwarded_for=address())
    # A new X-Forwarded-For per request does not buy new attempts: the socket address counts.
    assert not signed_in(sign_in(people().email, "pw-test-123", remote=direct, forwarded_for=address()))


def test_signins_failures_and_lockouts_are_in_the_tenants_audit_trail(acme, behind_proxy, people, settings):
    settings.SIGNIN_FREE_FAILURES = 2
    person = people()
    client_address = address()
    sign_in(person.email, "wrong", forwarded_for=client_address)
    sign_in(person.email, "wrong", forwarded_for=client_address)
    actions = list(
        AuditEntry.objects.filter(tenant=acme, object_repr=person.email).values_list("action", "after")
    )
    assert ("signin.failed", {"failures": 1, "client_ip": client_address}) in actions
    assert any(a == "signin.locked_out" and after["seconds"] > 0 for a, after in actions)
    signin_reset(person.email)
    assert signed_in(sign_in(person.email, "pw-test-123", forwarded_for=client_address))
    assert AuditEntry.objects.filter(tenant=acme, action="signin.succeeded", actor=person).exists()
    # The same records are in the tenant's evidence chain.
    from evidence.models import EvidenceRecord

    kinds = set(EvidenceRecord.objects.filter(tenant=acme).values_list("kind", flat=True))
    assert {"audit.signin.failed", "audit.signin.locked_out", "audit.signin.succeeded"} <= kinds
