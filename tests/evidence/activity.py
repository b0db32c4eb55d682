"""Agent activity for evidence tests, written by the decision pipeline's own writers (no rollout needed)."""

from django.db import transaction

from cavra_engine.policy import Verdict
from policies.decisions import DecisionFacts, DecisionInput, decision_record, session_open
from policies.decisions.types import PolicyRef


def open_session(tenant, *, agent_ref="agt_ci", repository="acme/api"):
    return session_open(tenant=tenant, agent_ref=agent_ref, repository=repository)


def record_decision(
    tenant, session, *, action, target, decision, rule_id="", severity="", reason="", policy=None
):
    """One Decision + its `decision` evidence record, as the record step writes them."""
    facts = DecisionFacts(
        agent_ref=session.agent_ref,
        agent_name="",
        data=DecisionInput(action=action, target=target, repository=session.repository or None),
        verdict=Verdict(decision, rule_id or None, severity, reason, normalised_target=target),
        policy=PolicyRef(**(policy or {})),
        action_digest="",
    )
    with transaction.atomic():
        return decision_record(tenant=tenant, facts=facts, session=session).decision
