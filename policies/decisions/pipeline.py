"""The runtime decision as a composition of named steps; see policies/decisions/__init__.py for the rules."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import DatabaseError, transaction

from policies.decisions.approval import action_binding, approval_opener, approval_use
from policies.decisions.evaluate import evaluate_policy
from policies.decisions.idempotency import idempotency_claim, idempotency_remember
from policies.decisions.mode import apply_mode, attestation_of
from policies.decisions.record import DecisionFacts, decision_record
from policies.decisions.registry_checks import registry_review
from policies.decisions.resolve import resolve
from policies.decisions.serialize import decision_response
from policies.decisions.sessions import session_for_decision
from policies.decisions.types import Caller, DecisionInput, DecisionOutcome, DecisionUnavailable


def decide(*, tenant, agent, data: DecisionInput) -> DecisionOutcome:
    """Decide one proposed action and record it: authenticate result -> ... -> record."""
    caller = Caller(tenant, agent)
    resolution = resolve(caller, data)
    judgement = evaluate_policy(resolution, caller, data)
    judgement = registry_review(judgement, caller, data)
    judgement = apply_mode(judgement, resolution.mode, attestation=attestation_of(data), tenant=tenant)
    policy = resolution.policy
    digest = action_binding(caller, data, judgement, policy)
    try:
        with transaction.atomic():
            used = approval_use(judgement, caller, data, digest)
            session = session_for_decision(caller, data)
            judged = used.judgement
            facts = DecisionFacts(
                agent.public_id,
                agent.name,
                data,
                judged.verdict,
                policy,
                digest,
                judged.would_have,
                used.approval,
                agent_profile=getattr(agent, "profile", None),
                attestation=judged.attestation,
            )
            opener = approval_opener(caller, data, judged, policy, digest)
            return decision_record(tenant=tenant, facts=facts, session=session, open_approval=opener)
    except DatabaseError as exc:
        raise DecisionUnavailable("The evidence store is unreachable; nothing was decided.") from exc


@dataclass(frozen=True)
class DecisionAnswer:
    body: dict
    replayed: bool = False


def decision_answer(*, tenant, agent, request: dict, idempotency_key: str = "") -> DecisionAnswer:
    """The API's entry: idempotency -> decide -> serialize -> remember the answer for retries."""
    claim = idempotency_claim(agent_ref=agent.public_id, key=idempotency_key, request=request)
    if claim.replay is not None:
        return DecisionAnswer(claim.replay, replayed=True)
    outcome = decide(tenant=tenant, agent=agent, data=DecisionInput.from_validated(request))
    body = decision_response(outcome)
    idempotency_remember(claim, body)
    return DecisionAnswer(body)
