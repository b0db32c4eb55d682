"""Each step of the decision pipeline alone: typed input in, typed output out (policies/decisions/)."""

from __future__ import annotations

import inspect
import json

import pytest
from django.core.cache import cache
from django.db import transaction

from cavra_engine.policy import Verdict
from cavra_engine.policy.binding import action_digest
from evidence.models import Decision, EvidenceRecord
from policies.api.serializers import DecisionResponseSerializer
from policies.decisions import pipeline
from policies.decisions.approval import action_binding, approval_opener, approval_use
from policies.decisions.evaluate import evaluate_policy
from policies.decisions.idempotency import (
    NO_CLAIM,
    IdempotencyRejected,
    idempotency_claim,
    idempotency_remember,
)
from policies.decisions.mode import apply_mode
from policies.decisions.record import DecisionFacts, decision_record
from policies.decisions.registry_checks import registry_review
from policies.decisions.resolve import resolve
from policies.decisions.serialize import decision_response
from policies.decisions.sessions import session_for_decision, session_open
from policies.decisions.types import (
    NO_POLICY,
    Caller,
    DecisionInput,
    DecisionInputError,
    Judgement,
    PolicyRef,
)
from policies.models import PolicyVersion, Rollout
from registry.services import agent_set_status

pytestmark = pytest.mark.django_db


def _caller(acme, agent) -> Caller:
    acme.refresh_from_db()  # the rollout fixtures bump the tenant's policy generation
    agent.refresh_from_db()
    return Caller(acme, agent)


def _verdict(decision: str, rule_id: str | None = "test.rule", **kw) -> Verdict:
    return Verdict(decision, rule_id, kw.pop("severity", "high"), kw.pop("reason", "because"), **kw)


# --- resolve ------------------------------------------------------------------------------------------


def test_resolve_without_rollout_refuses_with_block(acme, agent):
    resolution = resolve(_caller(acme, agent), DecisionInput("read_file", "README.md"))
    assert resolution.rollout is None and resolution.policy == NO_POLICY
    assert (resolution.refusal.decision, resolution.refusal.rule_id) == ("block", "portal.no_policy")


def test_resolve_inactive_tenant_refuses_even_with_a_rollout(acme, agent, rolled_out):
    acme.entitlement_status = "suspended"
    acme.save(update_fields=["entitlement_status"])
    resolution = resolve(_caller(acme, agent), DecisionInput("read_file", "README.md"))
    assert resolution.refusal.rule_id == "portal.tenant_inactive" and resolution.policy == NO_POLICY


def test_resolve_names_the_rolled_out_version(acme, agent, rolled_out, policy_version):
    resolution = resolve(_caller(acme, agent), DecisionInput("read_file", "README.md", repository="acme/web"))
    assert resolution.refusal is None and resolution.mode == "enforce"
    assert resolution.policy == PolicyRef("decide-test", "1.0.0", policy_version.digest, "enforce")


# --- evaluate -----------------------------------------------------------------------------------------


def test_evaluate_is_the_policy_verdict(acme, agent, rolled_out):
    caller = _caller(acme, agent)
    data = DecisionInput("read_file", "./config/../.env")
    judgement = evaluate_policy(resolve(caller, data), caller, data)
    assert judgement.from_policy and judgement.decision == "block"
    assert (judgement.verdict.rule_id, judgement.verdict.normalised_target) == ("test.secrets.read", ".env")


def test_evaluate_passes_a_refusal_through_as_not_from_policy(acme, agent):
    caller = _caller(acme, agent)
    data = DecisionInput("read_file", "README.md")
    judgement = evaluate_policy(resolve(caller, data), caller, data)
    assert not judgement.from_policy and judgement.verdict.rule_id == "portal.no_policy"


def test_evaluate_fails_closed_on_a_broken_policy(acme, agent, rolled_out, policy_version):
    PolicyVersion.objects.filter(pk=policy_version.pk).update(compiled_json='{"broken": 1}', digest="1" * 64)
    caller = _caller(acme, agent)
    data = DecisionInput("read_file", "README.md")
    judgement = evaluate_policy(resolve(caller, data), caller, data)
    assert (judgement.decision, judgement.verdict.rule_id, judgement.from_policy) == (
        "block",
        "portal.policy_error",
        False,
    )


# --- registry checks ----------------------------------------------------------------------------------


def test_registry_objection_replaces_a_softer_verdict(acme, agent):
    agent_set_status(agent=agent, actor=None, status="suspended")
    allowed = Judgement(_verdict("allow", None, normalised_target="a.py"), from_policy=True)
    judged = registry_review(allowed, _caller(acme, agent), DecisionInput("read_file", "a.py"))
    assert (judged.decision, judged.verdict.rule_id) == ("block", "registry.agent.suspended")
    assert judged.registry_blocks and not judged.from_policy and judged.verdict.normalised_target == "a.py"


def test_no_registry_objection_keeps_the_judgement(acme, agent):
    allowed = Judgement(_verdict("allow", None), from_policy=True)
    assert registry_review(allowed, _caller(acme, agent), DecisionInput("read_file", "a.py")) is allowed


def test_profile_scope_objection_is_reported_for_an_action_the_profile_lacks(acme):
    from registry.services import agent_create

    reader = agent_create(tenant=acme, actor=None, name="reader", profile="read-only", owner=None)
    allowed = Judgement(_verdict("allow", None), from_policy=True)
    judged = registry_review(allowed, _caller(acme, reader), DecisionInput("write_file", "a.py"))
    assert judged.decision == "block" and judged.verdict.rule_id.startswith("registry.")


# --- mode ---------------------------------------------------------------------------------------------


def test_audit_only_softens_a_policy_verdict_and_remembers_it():
    judged = apply_mode(Judgement(_verdict("block"), from_policy=True), Rollout.Mode.AUDIT_ONLY)
    assert judged.decision == "allow" and judged.verdict.rule_id == "test.rule"
    assert judged.would_have == {"decision": "block", "rule_id": "test.rule", "reason": "because"}


def test_audit_only_never_softens_a_registry_or_portal_verdict():
    blocked = Judgement(_verdict("block", "registry.agent.suspended"), from_policy=False)
    assert apply_mode(blocked, Rollout.Mode.AUDIT_ONLY) is blocked


def test_strict_turns_allow_into_require_approval():
    judged = apply_mode(
        Judgement(_verdict("allow", None, reason="", severity="low"), True), Rollout.Mode.STRICT
    )
    assert (judged.decision, judged.verdict.rule_id, judged.verdict.severity) == (
        "require_approval",
        "mode.strict",
        "medium",
    )
    assert judged.verdict.reason == "Strict mode: every allowed action needs approval."


def test_enforce_changes_nothing():
    judgement = Judgement(_verdict("require_approval"), from_policy=True)
    assert apply_mode(judgement, Rollout.Mode.ENFORCE) is judgement


# --- approval -----------------------------------------------------------------------------------------


def test_binding_is_the_engine_digest_of_the_normalised_action(acme, agent):
    caller = _caller(acme, agent)
    data = DecisionInput("read_file", "./a/../b.py", repository="acme/web", environment="dev")
    judgement = Judgement(_verdict("allow", normalised_target="b.py"), True)
    digest = action_binding(caller, data, judgement, PolicyRef(digest="d1"))
    assert digest == action_digest(
        agent_ref=agent.public_id,
        action="read_file",
        normalised_target="b.py",
        repository="acme/web",
        environment="dev",
        policy_digest="d1",
    )
    assert digest != action_binding(caller, data, judgement, PolicyRef(digest="d2"))


def test_approval_use_without_an_approval_changes_nothing(acme, agent):
    judgement = Judgement(_verdict("require_approval"), True)
    used = approval_use(judgement, _caller(acme, agent), DecisionInput("read_file", "a"), "digest")
    assert used.judgement is judgement and used.approval is None


def test_approval_use_never_overrides_a_registry_block(acme, agent):
    judgement = Judgement(_verdict("block", "registry.agent.suspended"), False, registry_blocks=True)
    data = DecisionInput("read_file", "a", approval_id="apr_whatever")
    assert approval_use(judgement, _caller(acme, agent), data, "digest").judgement is judgement


def test_approval_use_of_an_unknown_approval_blocks(acme, agent):
    data = DecisionInput("read_file", "a", approval_id="apr_missing")
    with transaction.atomic():
        used = approval_use(Judgement(_verdict("require_approval"), True), _caller(acme, agent), data, "d")
    assert (used.judgement.decision, used.judgement.verdict.rule_id) == ("block", "approval.mismatch")
    assert "does not exist" in used.judgement.verdict.reason


# --- sessions and record ------------------------------------------------------------------------------


def test_session_of_another_agent_is_reported_as_missing(acme, agent, member):
    other = session_open(tenant=acme, agent_ref="agt_someone_else")
    with pytest.raises(DecisionInputError) as raised:
        session_for_decision(
            _caller(acme, agent), DecisionInput("read_file", "a", session_id=other.public_id)
        )
    assert raised.value.field == "session_id"


def _facts(agent, decision="allow", **kw) -> DecisionFacts:
    return DecisionFacts(
        agent_ref=agent.public_id,
        agent_name=agent.name,
        data=DecisionInput("execute_command", "kubectl apply -f x.yaml", repository="acme/web"),
        verdict=_verdict(decision, normalised_target="kubectl apply -f x.yaml"),
        policy=PolicyRef("decide-test", "1.0.0", "d" * 64, "enforce"),
        action_digest="b" * 64,
        **kw,
    )


def test_record_writes_one_decision_and_one_linked_evidence_record(acme, agent):
    with transaction.atomic():
        outcome = decision_record(tenant=acme, facts=_facts(agent, "block"))
    decision = Decision.objects.get(tenant=acme)
    record = EvidenceRecord.objects.get(tenant=acme, kind="decision.recorded")
    assert (
        decision.evidence_id == record.pk
        and record.subject == decision.public_id == outcome.decision.public_id
    )
    assert (outcome.evidence_seq, outcome.evidence_hash) == (record.seq, record.hash)
    assert record.payload["decision"] == "block" and record.payload["action_digest"] == "b" * 64


def test_record_opens_an_approval_for_require_approval(acme, agent):
    caller = _caller(acme, agent)
    facts = _facts(agent, "require_approval")
    opener = approval_opener(
        caller, facts.data, Judgement(facts.verdict, True), facts.policy, facts.action_digest
    )
    with transaction.atomic():
        outcome = decision_record(tenant=acme, facts=facts, open_approval=opener)
    assert outcome.approval is not None and outcome.approval.decision_id == outcome.decision.pk
    record = EvidenceRecord.objects.get(tenant=acme, kind="decision.recorded")
    assert record.payload["approval"] == outcome.approval.public_id
    assert Decision.objects.get(pk=outcome.decision.pk).evidence_id == record.pk


# --- serialize ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("decision", ["allow", "require_approval"])
def test_response_matches_the_documented_serializer_byte_for_byte(acme, agent, decision):
    caller = _caller(acme, agent)
    session = session_open(tenant=acme, agent_ref=agent.public_id)
    would_have = {"decision": "block", "rule_id": "r", "reason": "x"} if decision == "allow" else None
    facts = _facts(agent, decision, would_have=would_have)
    opener = approval_opener(
        caller, facts.data, Judgement(facts.verdict, True), facts.policy, facts.action_digest
    )
    with transaction.atomic():
        outcome = decision_record(tenant=acme, facts=facts, session=session, open_approval=opener)
    body = decision_response(outcome)
    assert json.dumps(body) == json.dumps(DecisionResponseSerializer(body).data)
    assert ("audit_only" in body) == (decision == "allow") and (body["approval"] is None) == (
        decision == "allow"
    )
    assert body["session_id"] == session.public_id and body["timestamp"].endswith("Z")


# --- idempotency --------------------------------------------------------------------------------------


def test_idempotency_replays_the_first_answer_and_refuses_another_body():
    request = {"action": "read_file", "target": "a.py"}
    assert idempotency_claim(agent_ref="agt_x", key="", request=request) is NO_CLAIM
    claim = idempotency_claim(agent_ref="agt_x", key="step-test-key", request=request)
    assert claim.replay is None and claim.cache_key
    idempotency_remember(claim, {"decision_id": "dec_1"})
    try:
        again = idempotency_claim(agent_ref="agt_x", key="step-test-key", request=dict(request))
        assert again.replay == {"decision_id": "dec_1"}
        # The key is scoped to the agent: another agent's identical key is a fresh request.
        assert idempotency_claim(agent_ref="agt_y", key="step-test-key", request=request).replay is None
        with pytest.raises(IdempotencyRejected) as conflict:
            idempotency_claim(agent_ref="agt_x", key="step-test-key", request={**request, "target": "b.py"})
        assert conflict.value.status == 422
    finally:
        cache.delete(claim.cache_key)


def test_idempotency_key_too_long_is_rejected():
    with pytest.raises(IdempotencyRejected) as raised:
        idempotency_claim(agent_ref="agt_x", key="k" * 201, request={})
    assert raised.value.status == 400 and "200" in raised.value.detail


# --- composition --------------------------------------------------------------------------------------


def test_decide_is_a_short_composition_of_named_steps():
    source = inspect.getsource(pipeline.decide)
    assert len(source.splitlines()) <= 40
    for step in (
        "resolve",
        "evaluate_policy",
        "registry_review",
        "apply_mode",
        "approval_use",
        "decision_record",
    ):
        assert f"{step}(" in source
