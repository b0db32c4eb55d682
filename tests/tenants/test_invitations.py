"""Invitations by e-mail, end to end: the e-mail reaches an SMTP server on 127.0.0.1 through the outbox,
and its link is followed; resend, revoke, expiry and single use."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from cavra_portal.celery import app as celery_app
from core.models import OutboxMessage
from core.roles import Role
from tenants.models import AuditEntry, Invitation, Membership, User
from tests.support.smtp_sink import SmtpSink

pytestmark = pytest.mark.django_db(transaction=True)
NEW_PASSWORD = "correct horse battery staple 42"


@pytest.fixture
def smtp(settings):
    with SmtpSink() as sink:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = sink.host, sink.port, False
        before = celery_app.conf.task_always_eager
        celery_app.conf.task_always_eager = True
        yield sink
        celery_app.conf.task_always_eager = before


def link_in(message) -> str:
    body = message.get_body(preferencelist=("plain",)).get_content()
    return re.search(r"http://testserver(/tenants/invitations/[^/\s]+/)", body).group(1)


def test_invitation_email_is_received_followed_and_works_once(acme, member, client_as, smtp):
    admin = member(acme, Role.TENANT_ADMIN, email="boss@acme.test")
    page = client_as(admin, acme)
    response = page.post(
        "/tenants/members/", {"email": "New.Person@Example.test", "roles": ["auditor", "executive"]}
    )
    assert response.status_code == 302
    assert not Membership.objects.filter(
        user__email="new.person@example.test"
    ).exists()  # not before accepting
    invitation = Invitation.objects.get(tenant=acme)
    assert (invitation.email, invitation.roles, invitation.state) == (
        "new.person@example.test",
        ["auditor", "executive"],
        "pending",
    )
    assert OutboxMessage.objects.get(kind="email.invitation").status == "sent"
    [message] = smtp.messages
    assert message["To"] == "new.person@example.test" and "Acme Corp" in message["Subject"]
    link = link_in(message)
    token = link.rstrip("/").rsplit("/", 1)[-1]
    assert token not in str(Invitation.objects.values_list().get())  # only its hash is stored
    assert "new.person@example.test" in page.get("/tenants/members/").content.decode()

    visitor = Client()
    shown = visitor.get(link)
    assert shown.status_code == 200 and "Join Acme Corp" in shown.content.decode()
    mismatch = visitor.post(link, {"password": NEW_PASSWORD, "password2": "other"})
    assert mismatch.status_code == 422 and "The two passwords differ." in mismatch.content.decode()
    weak = visitor.post(link, {"password": "123", "password2": "123"})
    assert weak.status_code == 422 and 'id="password-error"' in weak.content.decode()
    assert not User.objects.filter(email="new.person@example.test").exists()

    joined = visitor.post(
        link, {"password": NEW_PASSWORD, "password2": NEW_PASSWORD, "full_name": "New Person"}
    )
    assert joined.status_code == 302
    assert visitor.get("/api/v1/me").json()["roles"] == ["auditor", "executive"]
    membership = Membership.objects.get(tenant=acme, user__email="new.person@example.test")
    assert membership.invited_by == admin
    assert {"invitation.create", "invitation.accept"} <= set(
        AuditEntry.objects.filter(tenant=acme).values_list("action", flat=True)
    )
    assert Client().get(link).status_code == 404  # single use
    assert Client().post(link, {"password": NEW_PASSWORD, "password2": NEW_PASSWORD}).status_code == 404
    assert (
        Client()
        .post("/accounts/login/", {"login": "new.person@example.test", "password": NEW_PASSWORD})
        .status_code
        == 302
    )


def test_resend_replaces_the_link_revoke_and_expiry_end_it(acme, member, client_as, smtp):
    admin = member(acme, Role.TENANT_ADMIN, email="boss@acme.test")
    page = client_as(admin, acme)
    page.post("/tenants/members/", {"email": "sam@example.test", "roles": ["operator"]})
    invitation = Invitation.objects.get(tenant=acme)
    again = page.post(
        "/tenants/members/", {"email": "sam@example.test", "roles": ["operator"]}, HTTP_HX_REQUEST="true"
    )
    assert again.status_code == 422 and "already has a pending invitation" in again.content.decode()

    assert (
        page.post(f"/tenants/invitations/{invitation.public_id}/resend/", HTTP_HX_REQUEST="true").status_code
        == 200
    )
    first, second = smtp.messages
    assert Client().get(link_in(first)).status_code == 404  # the earlier link no longer works
    assert Client().get(link_in(second)).status_code == 200

    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert Client().get(link_in(second)).status_code == 404
    page.post(f"/tenants/invitations/{invitation.public_id}/resend/")  # an expired one can be sent again
    third = smtp.messages[-1]
    assert Client().get(link_in(third)).status_code == 200

    assert page.post(f"/tenants/invitations/{invitation.public_id}/revoke/").status_code == 302
    assert Client().get(link_in(third)).status_code == 404
    refused = page.post(f"/tenants/invitations/{invitation.public_id}/resend/", HTTP_HX_REQUEST="true")
    assert refused.status_code == 422 and "already revoked" in refused.content.decode()
    actions = list(
        AuditEntry.objects.filter(tenant=acme, action__startswith="invitation.").values_list(
            "action", flat=True
        )
    )
    assert sorted(actions) == [
        "invitation.create",
        "invitation.resend",
        "invitation.resend",
        "invitation.revoke",
    ]


def test_an_existing_account_accepts_signed_in_as_itself(acme, globex, member, client_as, smtp):
    admin = member(acme, Role.TENANT_ADMIN, email="boss@acme.test")
    existing = member(globex, Role.AUDITOR, email="lee@globex.test")
    client_as(admin, acme).post("/tenants/members/", {"email": "lee@globex.test", "roles": ["evaluator"]})
    link = link_in(smtp.messages[-1])
    assert "already has an account" in Client().get(link).content.decode()
    assert Client().post(link, {"password": NEW_PASSWORD, "password2": NEW_PASSWORD}).status_code == 422
    stranger = client_as(member(globex, Role.AUDITOR, email="other@globex.test"), globex)
    wrong = stranger.post(link)
    assert wrong.status_code == 422 and "This invitation is for lee@globex.test" in wrong.content.decode()
    lee = client_as(existing, globex)
    assert lee.post(link).status_code == 302
    assert Membership.objects.get(tenant=acme, user=existing).roles == ["evaluator"]
