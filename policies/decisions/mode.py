"""Step: apply the rollout mode and the v1 outcomes (cavra_engine.policy.modes), then check who attested.

An answer that relies on an attestation names a person: a member of the tenant for a rule's
allow_with_attestation, someone who may break glass for break_glass mode. Anyone else -> block.
"""

from __future__ import annotations

from dataclasses import replace

from django.db import DatabaseError

from approvals.services import may_break_glass
from cavra_engine.policy import Verdict
from cavra_engine.policy.modes import STRICT_REASON, Attestation
from cavra_engine.policy.modes import apply_mode as engine_apply_mode
from cavra_engine.policy.vocabulary import BLOCK
from core.authz import is_member
from policies.decisions.types import DecisionInput, DecisionUnavailable, Judgement
from tenants.models import User

__all__ = ["STRICT_REASON", "apply_mode", "attestation_of"]


def attestation_of(data: DecisionInput) -> Attestation | None:
    raw = data.attestation or None
    return Attestation(raw["actor"], raw["reason"]) if raw else None


def _attester_refusal(tenant, attestation: Attestation, break_glass: bool) -> str | None:
    """Why the named actor may not vouch for this action (None: they may)."""
    try:
        user = User.objects.filter(email__iexact=attestation.actor.strip(), is_active=True).first()
        if user is None or not is_member(user, tenant):
            return f"attestation.actor {attestation.actor!r} is not an active member of this tenant."
        if break_glass and not may_break_glass(user, tenant):
            return f"attestation.actor {attestation.actor!r} may not break glass in this tenant."
    except DatabaseError as exc:
        raise DecisionUnavailable("The user directory is unreachable.") from exc
    return None


def apply_mode(
    judgement: Judgement, mode: str, *, attestation: Attestation | None = None, tenant=None
) -> Judgement:
    moded = engine_apply_mode(
        judgement.verdict, mode, attestation=attestation, from_policy=judgement.from_policy
    )
    if moded.attestation is not None:
        refusal = _attester_refusal(tenant, moded.attestation, moded.break_glass)
        if refusal is not None:
            rule = "portal.break_glass_refused" if moded.break_glass else "portal.attestation_refused"
            target = judgement.verdict.normalised_target
            return Judgement(
                Verdict(BLOCK, rule, "high", refusal, normalised_target=target), from_policy=False
            )
    if moded.verdict is judgement.verdict and moded.would_have is None and moded.attestation is None:
        return judgement
    used = {**moded.attestation.as_dict(), "break_glass": moded.break_glass} if moded.attestation else None
    return replace(judgement, verdict=moded.verdict, would_have=moded.would_have, attestation=used)
