"""POST /api/v1/decisions with CAVRA v1 outcomes and the strict_regulated / break_glass modes, end to end."""

from __future__ import annotations

import pytest

from approvals.services import break_glass_grant_add
from evidence.models import Decision, EvidenceRecord
from tests.factories import PolicyVersionFactory, RolloutFactory
from tests.policies.conftest import ask

pytestmark = pytest.mark.django_db

V1_PACK = """\
metadata: {id: legacy-outcomes, name: Legacy outcomes, version: "1"}
filesystem:
  require_approval_write: [".github/workflows/*"]
commands:
  block: ["rm -rf /*"]
  allow_with_attestation: ["terraform apply*"]
  warn: ["npm publish*"]
  audit_only: ["curl *"]
  allow: ["ls*"]
"""


@pytest.fixture
def rollout_v1(acme):
    def make(mode: str):
        version = PolicyVersionFactory(tenant=acme, text=V1_PACK)
        return RolloutFactory(version=version, mode=mode)

    return make


def _evidence(decision_id: str) -> dict:
    return EvidenceRecord.objects.get(subject=decision_id).payload


def test_warn_and_audit_only_are_allowed_and_say_so(acme, rollout_v1, agent_client):
    rollout_v1("enforce")
    warn = ask(agent_client, action="execute_command", target="npm publish").json()
    assert (warn["decision"], warn["outcome"], warn["rule_id"]) == ("allow", "warn", "commands.warn")
    assert _evidence(warn["decision_id"])["outcome"] == "warn"
    audited = ask(agent_client, action="execute_command", target="curl https://x.test").json()
    assert (audited["decision"], audited["outcome"]) == ("allow", "audit_only")
    plain = ask(agent_client, action="execute_command", target="ls").json()
    assert (plain["decision"], plain["outcome"]) == ("allow", "allow")
    assert "outcome" not in _evidence(plain["decision_id"]) and "attestation" not in plain


def test_allow_with_attestation_needs_a_member_as_actor(acme, member, rollout_v1, agent_client):
    rollout_v1("enforce")
    alice = member(acme, "operator", email="alice@acme.test")
    bare = ask(agent_client, action="execute_command", target="terraform apply").json()
    assert bare["decision"] == "block" and "attestation.actor" in bare["reason"]

    stranger = ask(
        agent_client, action="execute_command", target="terraform apply",
        attestation={"actor": "mallory@evil.test", "reason": "trust me"},
    ).json()  # fmt: skip
    assert (stranger["decision"], stranger["rule_id"]) == ("block", "portal.attestation_refused")
    assert "mallory@evil.test" in stranger["reason"]

    attested = ask(
        agent_client, action="execute_command", target="terraform apply",
        attestation={"actor": alice.email, "reason": "CHG-7 planned change"},
    ).json()  # fmt: skip
    assert (attested["decision"], attested["outcome"]) == ("allow", "allow_with_attestation")
    assert attested["attestation"] == {
        "actor": alice.email,
        "reason": "CHG-7 planned change",
        "break_glass": False,
    }
    payload = _evidence(attested["decision_id"])
    assert payload["outcome"] == "allow_with_attestation" and payload["attestation"]["actor"] == alice.email
    row = Decision.objects.get(public_id=attested["decision_id"])
    assert row.decision == "allow" and row.context["attestation"]["reason"] == "CHG-7 planned change"


def test_break_glass_needs_someone_who_may_break_glass(acme, member, rollout_v1, agent_client):
    rollout_v1("break_glass")
    operator = member(acme, "operator", email="op@acme.test")
    admin = member(acme, "tenant_admin", email="admin@acme.test")
    path = ".github/workflows/deploy.yml"
    pending = ask(agent_client, action="write_file", target=path).json()
    assert pending["decision"] == "require_approval" and pending["policy"]["mode"] == "break_glass"
    assert "attestation.actor" in pending["reason"]

    refused = ask(agent_client, action="write_file", target=path,
                  attestation={"actor": operator.email, "reason": "outage"}).json()  # fmt: skip
    assert (refused["decision"], refused["rule_id"]) == ("block", "portal.break_glass_refused")

    break_glass_grant_add(tenant=acme, user=operator, actor=admin)
    broken = ask(agent_client, action="write_file", target=path,
                 attestation={"actor": operator.email, "reason": "INC-9 outage"}).json()  # fmt: skip
    assert (broken["decision"], broken["outcome"], broken["approval"]) == (
        "allow",
        "allow_with_attestation",
        None,
    )
    assert broken["attestation"]["break_glass"] is True
    assert _evidence(broken["decision_id"])["attestation"] == {
        "actor": operator.email, "reason": "INC-9 outage", "break_glass": True,
    }  # fmt: skip
    # a block is never broken
    block = ask(agent_client, action="execute_command", target="rm -rf /*",
                attestation={"actor": admin.email, "reason": "cleanup"}).json()  # fmt: skip
    assert block["decision"] == "block"


def test_strict_regulated_asks_approval_for_plain_allows_and_warns(acme, member, rollout_v1, agent_client):
    rollout_v1("strict_regulated")
    alice = member(acme, "operator", email="alice@acme.test")
    for target in ("ls", "npm publish"):
        body = ask(agent_client, action="execute_command", target=target).json()
        assert body["decision"] == "require_approval" and "Strict regulated mode" in body["reason"]
    attested = ask(agent_client, action="execute_command", target="terraform apply",
                   attestation={"actor": alice.email, "reason": "CHG-8"}).json()  # fmt: skip
    assert attested["outcome"] == "allow_with_attestation"


@pytest.mark.parametrize(
    "attestation,field",
    [({"actor": "a@acme.test"}, "reason"), ({"actor": "", "reason": "x"}, "actor"), ("yes", "attestation")],
)
def test_bad_attestation_names_the_field(acme, rollout_v1, agent_client, attestation, field):
    rollout_v1("enforce")
    before = Decision.objects.count()
    response = ask(agent_client, action="execute_command", target="terraform apply", attestation=attestation)
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert any(field in key for key in response.json()["errors"]), response.json()
    assert Decision.objects.count() == before
