"""Decisions keep the deciding rule's control ids and their surface, on the row and in the evidence."""

from __future__ import annotations

from evidence.models import Decision
from tests.policies.conftest import ask


def test_the_deciding_rules_control_ids_are_stored_with_the_decision_and_its_evidence(enforced, agent_client):
    response = ask(agent_client, action="read_file", target=".env")
    assert response.status_code == 200, response.content
    assert response.json()["decision"] == "block"
    row = Decision.objects.get(public_id=response.json()["decision_id"])
    assert row.compliance == {"soc2": ["CC6.1", "CC6.7"], "iso27001": ["A.8.12"]}
    assert row.surface == "sensitive_data"
    assert row.evidence.payload["compliance"] == row.compliance
    assert row.evidence.payload["surface"] == "sensitive_data"


def test_a_default_allow_maps_to_no_control(enforced, agent_client):
    response = ask(agent_client, action="read_file", target="README.md")
    row = Decision.objects.get(public_id=response.json()["decision_id"])
    assert row.decision == "allow" and row.compliance == {} and row.surface == "general_policy"
    assert row.evidence.payload["compliance"] == {}


def test_a_registry_objection_keeps_no_policy_mapping(enforced, agent_client):
    response = ask(
        agent_client, action="mcp_tool_call", target="evil:run", mcp={"server": "evil", "tool": "run"}
    )
    row = Decision.objects.get(public_id=response.json()["decision_id"])
    assert row.decision == "block" and row.rule_id.startswith("registry.mcp")
    assert row.compliance == {} and row.surface == "mcp_tools"


def test_the_decision_page_shows_its_controls_and_surface(acme, enforced, agent_client, member, client_as):
    response = ask(agent_client, action="read_file", target=".env")
    page = client_as(member(acme, "auditor"), acme).get(
        f"/policies/activity/decisions/{response.json()['decision_id']}/"
    )
    text = page.content.decode()
    assert page.status_code == 200 and "<code>CC6.7</code>" in text and "sensitive_data" in text
