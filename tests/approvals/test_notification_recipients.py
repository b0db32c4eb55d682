"""Who an approval notification goes to is a capability in core.authz, not a role written into the
service: changing the table changes the recipients, and nothing else has to change."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals.models import ApprovalRequest
from approvals.services import approval_request_break_glass
from approvals.tasks import approvals_escalate_due
from core.authz import CAPABILITY_ROLES, UnknownCapability
from core.models import OutboxMessage
from core.roles import Role
from tenants.selectors import members_with_capability
from tests.factories import AgentFactory, ApprovalRequestFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(acme, member):
    return {
        "admin": member(acme, Role.TENANT_ADMIN, email="admin@acme.test"),
        "reviewer": member(acme, Role.SECURITY_REVIEWER, email="reviewer@acme.test"),
        "officer": member(acme, Role.COMPLIANCE_OFFICER, email="officer@acme.test"),
        "both": member(acme, Role.TENANT_ADMIN, Role.SECURITY_REVIEWER, email="both@acme.test"),
    }


def _recipients(key: str) -> list[str]:
    return OutboxMessage.objects.get(idempotency_key=key).payload["recipients"]


def test_members_with_capability_is_every_member_holding_it_through_any_role(acme, globex, people, member):
    member(globex, Role.TENANT_ADMIN, email="other@globex.test")
    holders = members_with_capability(tenant=acme, capability="approvals.receive_break_glass")
    assert sorted(m.user.email for m in holders) == [
        "admin@acme.test",
        "both@acme.test",
        "reviewer@acme.test",
    ]
    with pytest.raises(UnknownCapability):
        members_with_capability(tenant=acme, capability="approvals.receive_everything")


def test_escalation_goes_to_the_holders_of_receive_escalations(acme, people, monkeypatch):
    monkeypatch.setitem(
        CAPABILITY_ROLES, "approvals.receive_escalations", frozenset({Role.COMPLIANCE_OFFICER})
    )
    late = ApprovalRequestFactory(
        tenant=acme, agent=AgentFactory(tenant=acme), target=".github/workflows/a.yml"
    )
    ApprovalRequest.objects.filter(pk=late.pk).update(
        requested_at=timezone.now() - timedelta(minutes=55), expires_at=timezone.now() + timedelta(minutes=5)
    )
    assert approvals_escalate_due() == 1
    assert _recipients(f"approval:{late.public_id}:escalated") == ["officer@acme.test"]


def test_an_unroutable_request_goes_to_the_holders_of_receive_escalations(acme, people, monkeypatch):
    monkeypatch.setitem(
        CAPABILITY_ROLES, "approvals.receive_escalations", frozenset({Role.COMPLIANCE_OFFICER})
    )
    # README.md is routed to repository owners; nobody holds a grant, so nobody can decide it as routed.
    approval = ApprovalRequestFactory(tenant=acme, agent=AgentFactory(tenant=acme), target="README.md")
    assert _recipients(f"approval:{approval.public_id}:opened") == ["officer@acme.test"]


def test_break_glass_goes_to_the_holders_of_receive_break_glass(acme, people, monkeypatch):
    approval = ApprovalRequestFactory(
        tenant=acme, agent=AgentFactory(tenant=acme), target=".github/workflows/b.yml"
    )
    approval_request_break_glass(
        approval=approval,
        actor=people["admin"],
        justification="Production outage, INC-4211, fix must ship now",
    )
    assert _recipients(f"approval:{approval.public_id}:break_glass") == [
        "admin@acme.test",
        "both@acme.test",
        "reviewer@acme.test",
    ]
    monkeypatch.setitem(
        CAPABILITY_ROLES, "approvals.receive_break_glass", frozenset({Role.COMPLIANCE_OFFICER})
    )
    other = ApprovalRequestFactory(
        tenant=acme, agent=AgentFactory(tenant=acme), target=".github/workflows/c.yml"
    )
    approval_request_break_glass(
        approval=other, actor=people["admin"], justification="Production outage, INC-4212, fix must ship now"
    )
    assert _recipients(f"approval:{other.public_id}:break_glass") == ["officer@acme.test"]
