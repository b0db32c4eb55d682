"""Personal API tokens: the API tokens page, and `Bearer cvp_…` on the approvals API."""

from __future__ import annotations

import hashlib
import itertools
import json
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals.models import ApprovalRequest
from approvals.services import approval_request_open
from core.roles import Role
from registry.services import agent_create, agent_credential_issue, agent_credential_revoke
from tenants.models import AuditEntry, Membership, PersonalAccessToken
from tenants.services import membership_add, membership_remove
from tenants.tokens import personal_token_issue, personal_token_revoke

pytestmark = pytest.mark.django_db

WORKFLOW = ".github/workflows/ci.yml"  # routed to security reviewers by the default rules
_seq = itertools.count()


def _issue(user, tenant, **kwargs):
    return personal_token_issue(
        user=user, tenant=tenant, name=kwargs.pop("name", "bot"), actor=user, **kwargs
    )


def _open_approval(tenant, agent=None):
    agent = agent or agent_create(
        tenant=tenant, actor=None, name=f"agent-{next(_seq)}", profile="claude-code", owner=None
    )
    digest = hashlib.sha256(f"{agent.public_id}|{next(_seq)}".encode()).hexdigest()
    return approval_request_open(
        tenant=tenant,
        agent=agent,
        action_digest=digest,
        action="write_file",
        target=WORKFLOW,
        repository="acme/web",
        environment="dev",
        rule_id="filesystem.write.require_approval",
        severity="high",
        reason="Workflow files need a reviewer.",
        policy_pack="baseline",
        policy_digest="sha256:policy-v1",
    )


def _api(plaintext: str) -> Client:
    """A script: no session, no CSRF cookie, CSRF checks on, only the bearer token."""
    return Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {plaintext}")


def _post(client: Client, url: str, data: dict):
    return client.post(url, json.dumps(data), content_type="application/json")


def _assert_401(response):
    assert response.status_code == 401, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"].startswith("Bearer")
    return response.json()["detail"]


# ---------------------------------------------------------------- the page


def test_page_shows_the_plaintext_once_and_stores_only_its_hash(acme, member, client_as):
    user = member(acme, Role.AUDITOR)
    client = client_as(user, acme)
    assert client.get("/tenants/tokens/").status_code == 200
    response = client.post("/tenants/tokens/", {"name": "chat-ops bot"})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    page = response.content.decode()
    plaintext = page.split('<code class="token">', 1)[1].split("</code>", 1)[0]
    assert plaintext.startswith("cvp_") and len(plaintext) > 40
    token = PersonalAccessToken.objects.get()
    assert token.token_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert token.prefix == plaintext[:12] and token.user == user and token.tenant == acme
    assert timedelta(days=89) < token.expires_at - timezone.now() <= timedelta(days=90)
    again = client.get("/tenants/tokens/").content.decode()
    assert plaintext not in again and f"{token.prefix}…" in again and "chat-ops bot" in again
    entry = AuditEntry.objects.get(action="personal_token.issue")
    assert entry.actor == user and entry.tenant == acme
    assert plaintext not in json.dumps(entry.after) and plaintext[12:] not in json.dumps(entry.after)


def test_an_explicit_expiry_within_a_year_is_kept(acme, member, client_as):
    client = client_as(member(acme, Role.OPERATOR), acme)
    when = (timezone.now() + timedelta(days=200)).strftime("%Y-%m-%dT%H:%M")
    assert client.post("/tenants/tokens/", {"name": "ci", "expires_at": when}).status_code == 200
    assert PersonalAccessToken.objects.get().expires_at.strftime("%Y-%m-%dT%H:%M") == when


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "  "}, "name-error", "Give the token a name"),
        ({"name": "x" * 101}, "name-error", "at most 100 characters"),
        ({"name": "bot", "expires_at": "2020-01-01T00:00"}, "expires-error", "must be in the future"),
        ({"name": "bot", "expires_at": "soon"}, "expires-error", "Give a date and time"),
        (
            {"name": "bot", "expires_at": (timezone.now() + timedelta(days=400)).strftime("%Y-%m-%d")},
            "expires-error",
            "within one year",
        ),
    ],
)
def test_bad_input_is_shown_next_to_the_field_and_nothing_is_created(
    acme, member, client_as, data, field, message
):
    client = client_as(member(acme, Role.AUDITOR), acme)
    for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
        response = client.post("/tenants/tokens/", data, **headers)
        assert response.status_code == 422
        page = response.content.decode()
        error = page.split(f'id="{field}">', 1)[1].split("</p>", 1)[0]
        assert message.lower() in error.lower()
        assert "new-token" not in page
    assert not PersonalAccessToken.objects.exists()


def test_members_see_and_revoke_only_their_own_tokens_admins_all(acme, member, client_as):
    alice = member(acme, Role.SECURITY_REVIEWER, email="alice@acme.test")
    bob = member(acme, Role.AUDITOR, email="bob@acme.test")
    admin = member(acme, Role.TENANT_ADMIN, email="admin@acme.test")
    mine, _ = _issue(alice, acme, name="alice-bot")
    theirs, _ = _issue(bob, acme, name="bob-bot")

    alice_client = client_as(alice, acme)
    page = alice_client.get("/tenants/tokens/").content.decode()
    assert "alice-bot" in page and "bob-bot" not in page and theirs.prefix not in page
    assert alice_client.post(f"/tenants/tokens/{theirs.public_id}/revoke/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None

    response = alice_client.post(f"/tenants/tokens/{mine.public_id}/revoke/")
    assert response.status_code == 302 and response["Location"] == "/tenants/tokens/"
    mine.refresh_from_db()
    assert mine.revoked_at is not None and mine.revoked_by == alice

    admin_client = client_as(admin, acme)
    page = admin_client.get("/tenants/tokens/").content.decode()
    assert "alice-bot" in page and "bob-bot" in page and "bob@acme.test" in page
    response = admin_client.post(f"/tenants/tokens/{theirs.public_id}/revoke/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and 'id="tokens-region"' in response.content.decode()
    theirs.refresh_from_db()
    assert theirs.revoked_by == admin
    entry = AuditEntry.objects.filter(action="personal_token.revoke").first()
    assert entry.actor == admin and entry.object_id == str(theirs.pk)


def test_another_tenants_token_is_absent(acme, globex, member, client_as):
    admin = member(acme, Role.TENANT_ADMIN)
    member(globex, Role.AUDITOR, email=admin.email)  # even a member of both tenants
    outsider = member(globex, Role.AUDITOR)
    token, _ = _issue(outsider, globex)
    client = client_as(admin, acme)
    assert client.post(f"/tenants/tokens/{token.public_id}/revoke/").status_code == 404
    assert client.post("/tenants/tokens/pat_doesnotexist/revoke/").status_code == 404
    assert token.prefix not in client.get("/tenants/tokens/").content.decode()
    token.refresh_from_db()
    assert token.revoked_at is None


def test_only_the_owner_issues_and_only_owner_or_admin_revokes(acme, member):
    alice = member(acme, Role.SECURITY_REVIEWER)
    bob = member(acme, Role.SECURITY_REVIEWER)
    with pytest.raises(PermissionDenied):
        personal_token_issue(user=alice, tenant=acme, name="x", actor=bob)
    token, _ = _issue(alice, acme)
    with pytest.raises(PermissionDenied):
        personal_token_revoke(token=token, actor=bob)
    assert not PersonalAccessToken.objects.filter(revoked_at__isnull=False).exists()


def test_token_list_page_has_a_fixed_query_count(acme, member, client_as):
    admin = member(acme, Role.TENANT_ADMIN)
    client = client_as(admin, acme)
    counts = []
    for extra in (1, 5):
        for _ in range(extra):
            user = member(acme, Role.AUDITOR)
            token, _ = _issue(user, acme)
            personal_token_revoke(token=token, actor=admin)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/tenants/tokens/").status_code == 200
        counts.append(len(ctx))
    assert counts[0] == counts[1], counts


def test_admin_lists_tokens_but_cannot_add_them(acme, member, client_as):
    admin = member(acme, Role.TENANT_ADMIN)
    token, _ = _issue(member(acme, Role.AUDITOR), acme, name="listed-bot")
    client = client_as(admin, acme)
    assert "listed-bot" in client.get("/admin/tenants/personalaccesstoken/").content.decode()
    change = client.get(f"/admin/tenants/personalaccesstoken/{token.pk}/change/").content.decode()
    assert token.prefix in change and 'name="token_hash"' not in change
    assert client.get("/admin/tenants/personalaccesstoken/add/").status_code == 403


# ---------------------------------------------------------------- the API with a token


def test_a_reviewer_approves_with_a_token_and_no_csrf(acme, member):
    reviewer = member(acme, Role.SECURITY_REVIEWER, email="rev@acme.test")
    approval = _open_approval(acme)
    _, plaintext = _issue(reviewer, acme)
    api = _api(plaintext)
    queue = api.get("/api/v1/approvals")
    assert queue.status_code == 200
    assert [r["id"] for r in queue.json()["results"]] == [approval.public_id]
    assert api.get(f"/api/v1/approvals/{approval.public_id}").json()["status"] == "pending"
    response = _post(api, f"/api/v1/approvals/{approval.public_id}/approve", {"reason": "looks fine"})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "approved"
    approval.refresh_from_db()
    assert approval.decided_by == reviewer
    me = api.get("/api/v1/me").json()
    assert me["tenant"]["slug"] == "acme" and me["roles"] == ["security_reviewer"]


def test_deny_with_a_token(acme, member):
    reviewer = member(acme, Role.SECURITY_REVIEWER)
    approval = _open_approval(acme)
    _, plaintext = _issue(reviewer, acme)
    response = _post(_api(plaintext), f"/api/v1/approvals/{approval.public_id}/deny", {"reason": "no"})
    assert response.status_code == 200 and response.json()["status"] == "denied"


def test_a_token_is_bound_to_its_tenant(acme, globex, member):
    reviewer = member(acme, Role.SECURITY_REVIEWER, email="both@example.test")
    member(globex, Role.SECURITY_REVIEWER, email="both@example.test")
    foreign = _open_approval(globex)
    _, plaintext = _issue(reviewer, acme)
    api = _api(plaintext)
    assert _post(api, f"/api/v1/approvals/{foreign.public_id}/approve", {"reason": "x"}).status_code == 404
    assert api.get(f"/api/v1/approvals/{foreign.public_id}").status_code == 404
    assert api.get("/api/v1/approvals").json()["results"] == []
    assert [t["slug"] for t in api.get("/api/v1/me").json()["tenants"]] == ["acme"]
    foreign.refresh_from_db()
    assert foreign.status == ApprovalRequest.Status.PENDING


def test_the_wrong_role_is_a_403(acme, member):
    executive = member(acme, Role.EXECUTIVE, Role.REPORT_RECIPIENT)
    approval = _open_approval(acme)
    _, plaintext = _issue(executive, acme)
    api = _api(plaintext)
    response = _post(api, f"/api/v1/approvals/{approval.public_id}/approve", {"reason": "x"})
    assert response.status_code == 403 and response["Content-Type"] == "application/problem+json"
    assert api.get("/api/v1/approvals").status_code == 403
    assert api.get("/api/v1/members").status_code == 403


def test_revoked_expired_unknown_and_malformed_tokens_are_401(acme, member):
    reviewer = member(acme, Role.SECURITY_REVIEWER)
    approval = _open_approval(acme)
    url = f"/api/v1/approvals/{approval.public_id}/approve"
    revoked, revoked_text = _issue(reviewer, acme)
    personal_token_revoke(token=revoked, actor=reviewer)
    assert "revoked" in _assert_401(_post(_api(revoked_text), url, {"reason": "x"}))
    expired, expired_text = _issue(reviewer, acme)
    PersonalAccessToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert "expired" in _assert_401(_post(_api(expired_text), url, {"reason": "x"}))
    assert "unknown" in _assert_401(_post(_api("cvp_" + "A" * 43), url, {"reason": "x"}))
    assert "unknown" in _assert_401(_api("cvp_" + "A" * 300).get("/api/v1/approvals"))
    malformed = Client(HTTP_AUTHORIZATION=f"Bearer {expired_text} extra")
    _assert_401(malformed.get("/api/v1/approvals"))
    approval.refresh_from_db()
    assert approval.status == ApprovalRequest.Status.PENDING


def test_losing_the_membership_or_the_account_stops_the_token(acme, member):
    admin = member(acme, Role.TENANT_ADMIN)
    reviewer = member(acme, Role.SECURITY_REVIEWER)
    _, plaintext = _issue(reviewer, acme)
    api = _api(plaintext)
    assert api.get("/api/v1/approvals").status_code == 200
    membership_remove(membership=Membership.objects.get(tenant=acme, user=reviewer), actor=admin)
    assert "no longer a member" in _assert_401(api.get("/api/v1/approvals"))
    # Invited back later: tokens from the earlier membership stay dead.
    membership_add(tenant=acme, user=reviewer, roles=[Role.SECURITY_REVIEWER], actor=admin)
    _assert_401(api.get("/api/v1/approvals"))
    _, fresh = _issue(reviewer, acme)
    assert _api(fresh).get("/api/v1/approvals").status_code == 200
    reviewer.is_active = False
    reviewer.save(update_fields=["is_active"])
    assert "disabled" in _assert_401(_api(fresh).get("/api/v1/approvals"))


def test_personal_and_agent_tokens_never_stand_in_for_each_other(acme, member):
    reviewer = member(acme, Role.SECURITY_REVIEWER)
    agent = agent_create(tenant=acme, actor=None, name="bot", profile="claude-code", owner=None)
    approval = _open_approval(acme, agent)
    _, personal = _issue(reviewer, acme)
    _, agent_token = agent_credential_issue(agent=agent, actor=None)
    # A personal token is not an agent: the decision API refuses it outright.
    decision = _post(_api(personal), "/api/v1/decisions", {"action": "read_file", "target": "README.md"})
    assert decision.status_code == 401
    # An agent token is not a person: reviewer endpoints refuse it, its own status read still works.
    agent_api = _api(agent_token)
    assert _post(agent_api, f"/api/v1/approvals/{approval.public_id}/approve", {}).status_code in (401, 403)
    assert agent_api.get("/api/v1/approvals").status_code in (401, 403)
    assert agent_api.get(f"/api/v1/approvals/{approval.public_id}").json()["status"] == "pending"
    approval.refresh_from_db()
    assert approval.status == ApprovalRequest.Status.PENDING


def test_last_used_is_written_at_most_once_a_minute(acme, member):
    reviewer = member(acme, Role.SECURITY_REVIEWER)
    token, plaintext = _issue(reviewer, acme)
    api = _api(plaintext)
    api.get("/api/v1/approvals")
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    api.get("/api/v1/approvals")
    token.refresh_from_db()
    assert token.last_used_at == first
    PersonalAccessToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(minutes=2))
    api.get("/api/v1/approvals")
    token.refresh_from_db()
    assert token.last_used_at > first


def test_requests_without_a_personal_token_keep_their_old_status(acme, member):
    approval = _open_approval(acme)
    anonymous = Client()
    assert anonymous.get("/api/v1/approvals").status_code == 403  # session-only: DRF's 403
    detail = anonymous.get(f"/api/v1/approvals/{approval.public_id}")
    assert detail.status_code == 401 and detail["WWW-Authenticate"].startswith("Bearer")  # agents' 401
    agent = agent_create(tenant=acme, actor=None, name="bot2", profile="claude-code", owner=None)
    credential, agent_token = agent_credential_issue(agent=agent, actor=None)
    agent_credential_revoke(credential=credential, actor=None)
    assert "revoked" in _assert_401(_api(agent_token).get(f"/api/v1/approvals/{approval.public_id}"))
