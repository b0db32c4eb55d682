"""An approval past its TTL reads as expired everywhere the moment it is read (model, selectors, pages,
API) before the beat task records it; it offers no approve/deny; a late attempt states when it really
expired, in the reviewer's time zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from approvals.models import ApprovalRequest
from approvals.selectors import agent_recent_history, approval_history
from approvals.services import ApprovalStateError, approval_request_approve, reviewer_repository_grant_add
from approvals.tasks import EXPIRE_TASK, approvals_expire_due
from cavra_portal.celery import app as celery_app
from core.roles import Role
from core.timezones import COOKIE, reader_time

pytestmark = pytest.mark.django_db

S = ApprovalRequest.Status
# A fixed moment in winter: Berlin is UTC+1 (CET), New York UTC-5 (EST).
EXPIRED_AT = datetime(2026, 1, 15, 9, 30, 0, tzinfo=UTC)


@pytest.fixture
def world(acme, member, make_agent):
    owner = member(acme, Role.OPERATOR)
    agent = make_agent(acme, owner=owner, name="bot")
    alice = member(acme, Role.SECURITY_REVIEWER, email="alice@acme.test")
    reviewer_repository_grant_add(tenant=acme, user=alice, repository_glob="acme/*")
    auditor = member(acme, Role.AUDITOR, email="auditor@acme.test")
    return type("World", (), {"agent": agent, "alice": alice, "auditor": auditor})


def _overdue(approval, at=EXPIRED_AT):
    """Move the expiry into the past without telling anyone: the state the beat task has not seen yet."""
    ApprovalRequest.objects.filter(pk=approval.pk).update(expires_at=at)
    approval.refresh_from_db()
    return approval


def test_model_reads_a_passed_ttl_as_expired_before_the_task_runs(acme, world, open_request):
    approval = _overdue(open_request(acme, world.agent))
    assert approval.status == S.PENDING  # stored state not yet settled
    assert approval.effective_status == S.EXPIRED
    assert approval.effective_status_display == "Expired"
    assert not approval.is_decidable
    fresh = open_request(acme, world.agent)
    assert fresh.effective_status == S.PENDING and fresh.is_decidable
    approved = open_request(acme, world.agent)
    approval_request_approve(approval=approved, actor=world.alice, reason="ok")
    approved = _overdue(approved)
    assert approved.effective_status == S.EXPIRED  # an unused approval lapses too


def test_selectors_filter_and_count_by_the_status_as_it_reads_now(acme, world, open_request):
    overdue = _overdue(open_request(acme, world.agent))
    fresh = open_request(acme, world.agent)
    expired = approval_history(tenant=acme, user=world.auditor, filters={"status": "expired"})
    pending = approval_history(tenant=acme, user=world.auditor, filters={"status": "pending"})
    assert [a.pk for a in expired] == [overdue.pk]
    assert [a.pk for a in pending] == [fresh.pk]
    counts = agent_recent_history(tenant=acme, agents=[world.agent])[world.agent.pk]
    assert (counts["pending"], counts["expired"], counts["total"]) == (1, 1, 2)


def test_beat_task_settles_stored_state_and_is_scheduled(acme, world, open_request):
    overdue = _overdue(open_request(acme, world.agent))
    assert approvals_expire_due() == 1
    overdue.refresh_from_db()
    assert overdue.status == S.EXPIRED
    # The schedule ships with the code: a django-celery-beat row for the task every 30 s, and the task
    # is registered under that name with the Celery app the beat hands it to.
    row = PeriodicTask.objects.get(task=EXPIRE_TASK)
    assert row.enabled and row.interval.every == 30 and row.interval.period == "seconds"
    assert EXPIRE_TASK in celery_app.tasks


def test_late_attempt_states_the_real_expiry_not_when_it_was_settled(acme, world, open_request):
    approval = _overdue(open_request(acme, world.agent))
    approvals_expire_due()  # settled now, long after it expired
    with timezone.override(ZoneInfo("Europe/Berlin")):
        with pytest.raises(ApprovalStateError) as caught:
            approval_request_approve(approval=approval, actor=world.alice, reason="late")
    assert caught.value.message == (
        "This request expired at 2026-01-15 10:30:00 CET (09:30:00 UTC); your approval was not recorded."
    )
    # Not yet settled: the review itself expires it, and says the same.
    other = _overdue(open_request(acme, world.agent))
    with pytest.raises(ApprovalStateError, match=r"expired at 2026-01-15 09:30:00 UTC;"):
        approval_request_approve(approval=other, actor=world.alice, reason="late")
    other.refresh_from_db()
    assert other.status == S.EXPIRED


def test_reader_time_in_utc_and_in_a_zone():
    assert reader_time(EXPIRED_AT) == "2026-01-15 09:30:00 UTC"
    with timezone.override(ZoneInfo("America/New_York")):
        assert reader_time(EXPIRED_AT) == "2026-01-15 04:30:00 EST (09:30:00 UTC)"


def test_detail_page_of_an_overdue_request_says_expired_without_buttons(acme, world, open_request, client_as):
    approval = _overdue(open_request(acme, world.agent))
    client = client_as(world.alice, acme)
    client.cookies[COOKIE] = "Europe/Berlin"
    page = client.get(f"/approvals/{approval.public_id}/").content.decode()
    assert re.search(r'data-testid="status">Expired<', page)
    assert 'data-testid="approve"' not in page and 'data-testid="deny"' not in page
    assert "expired at" in page and "2026-01-15 10:30:00 CET" in page
    # Not in the queue, and the history says Expired too.
    assert approval.public_id not in client.get("/approvals/").content.decode()
    history = client.get("/approvals/history/", {"status": "expired"}).content.decode()
    assert approval.public_id in history and re.search(r'data-testid="status">Expired<', history)


def test_late_click_in_the_page_is_a_409_with_the_time_in_the_reviewers_zone(
    acme, world, open_request, client_as
):
    approval = _overdue(open_request(acme, world.agent))
    client = client_as(world.alice, acme)
    client.cookies[COOKIE] = "America/New_York"
    url = f"/approvals/{approval.public_id}/review/"
    response = client.post(url, {"verdict": "approve", "reason": "late"})
    assert response.status_code == 409
    body = response.content.decode()
    assert "This request expired at 2026-01-15 04:30:00 EST (09:30:00 UTC)" in body
    assert 'data-testid="approve"' not in body
    # The queue row (htmx) says the same and offers no buttons.
    response = client.post(url, {"verdict": "deny", "reason": "late"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 409
    row = response.content.decode()
    assert "expired at 2026-01-15 04:30:00 EST" in row and 'data-testid="deny"' not in row
    # A nonsense zone falls back to UTC rather than failing.
    client.cookies[COOKIE] = "../../etc/passwd"
    response = client.post(url, {"verdict": "approve", "reason": "late"})
    assert response.status_code == 409 and "2026-01-15 09:30:00 UTC" in response.content.decode()


def test_api_reads_expired_and_refuses_a_late_approve(acme, world, open_request, client_as):
    approval = _overdue(open_request(acme, world.agent), at=timezone.now() - timedelta(minutes=5))
    client = client_as(world.alice, acme)
    got = client.get(f"/api/v1/approvals/{approval.public_id}").json()
    assert got["status"] == "expired"
    assert approval.public_id not in [r["id"] for r in client.get("/api/v1/approvals").json()["results"]]
    response = client.post(
        f"/api/v1/approvals/{approval.public_id}/approve", {"reason": "late"}, content_type="application/json"
    )
    assert response.status_code == 409
    expected = f"{approval.expires_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    assert f"expired at {expected}" in response.json()["detail"]
