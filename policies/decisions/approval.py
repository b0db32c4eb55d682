"""Step: the approval binding, using an approval the agent presents, and opening one when needed."""

from __future__ import annotations

from dataclasses import replace

from approvals.services import approval_check_for_action, approval_request_open
from cavra_engine.policy.binding import action_digest
from cavra_engine.policy.vocabulary import ALLOW, BLOCK
from policies.decisions.types import ApprovalUse, Caller, DecisionInput, Judgement, PolicyRef


def action_binding(caller: Caller, data: DecisionInput, judgement: Judgement, policy: PolicyRef) -> str:
    """The digest an approval for this exact action is bound to."""
    return action_digest(
        agent_ref=caller.agent.public_id,
        action=data.action,
        normalised_target=judgement.verdict.normalised_target,
        repository=data.repository,
        environment=data.environment,
        policy_digest=policy.digest,
    )


def approval_use(judgement: Judgement, caller: Caller, data: DecisionInput, digest: str) -> ApprovalUse:
    """An approval (or break-glass) for exactly this action overrides the policy verdict; it never
    overrides the registry (a suspended agent stays blocked). Runs inside the decision's transaction."""
    if not data.approval_id or judgement.registry_blocks:
        return ApprovalUse(judgement)
    check = approval_check_for_action(
        tenant=caller.tenant, agent=caller.agent, approval_id=data.approval_id, action_digest=digest
    )
    if check.ok:
        verdict = replace(judgement.verdict, decision=ALLOW, reason=check.reason)
    else:
        verdict = replace(judgement.verdict, decision=BLOCK, rule_id="approval.mismatch", reason=check.reason)
    return ApprovalUse(replace(judgement, verdict=verdict), check.approval)


def approval_opener(
    caller: Caller, data: DecisionInput, judgement: Judgement, policy: PolicyRef, digest: str
):
    """How the record step opens a request for a saved decision (the request points at its decision)."""
    verdict = judgement.verdict

    def open_for(decision, session):
        return approval_request_open(
            tenant=caller.tenant,
            agent=caller.agent,
            decision=decision,
            action_digest=digest,
            action=data.action,
            target=data.target,
            repository=data.repository,
            environment=data.environment,
            rule_id=verdict.rule_id or "",
            severity=verdict.severity,
            reason=verdict.reason,
            policy_pack=policy.pack,
            policy_digest=policy.digest,
            approvers_hint=verdict.approvers,
            session=session,
        )

    return open_for
