"""Step: idempotency. A retried request with the same Idempotency-Key gets the first answer again."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass

from django.core.cache import cache

logger = logging.getLogger(__name__)
IDEMPOTENCY_TTL = 24 * 3600
MAX_KEY_LENGTH = 200


class IdempotencyRejected(Exception):
    """The key cannot be honoured (too long, or reused for another body); nothing is decided."""

    def __init__(self, status: int, detail: str, message: str):
        super().__init__(detail)
        self.status, self.detail, self.message = status, detail, message


@dataclass(frozen=True)
class IdempotencyClaim:
    cache_key: str | None = None
    fingerprint: str | None = None
    replay: dict | None = None  # the first answer, when this request was already decided


NO_CLAIM = IdempotencyClaim()


def idempotency_claim(*, agent_ref: str, key: str, request: dict) -> IdempotencyClaim:
    """Look the key up (scoped to the agent); a cache outage means no replay protection, not no decision."""
    key = (key or "").strip()
    if not key:
        return NO_CLAIM
    if len(key) > MAX_KEY_LENGTH:
        raise IdempotencyRejected(
            400,
            f"Idempotency-Key is longer than {MAX_KEY_LENGTH} characters.",
            f"At most {MAX_KEY_LENGTH} characters.",
        )
    fingerprint = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()
    cache_key = f"cavra:idem:decision:{agent_ref}:{hashlib.sha256(key.encode()).hexdigest()}"
    try:
        earlier = cache.get(cache_key)
    except Exception:  # noqa: BLE001 - a cache outage must not stop decisions
        earlier = None
    if earlier is None:
        return IdempotencyClaim(cache_key, fingerprint)
    if earlier["fingerprint"] != fingerprint:
        raise IdempotencyRejected(
            422, "This Idempotency-Key was used for a different request.", "Reused with a different body."
        )
    return IdempotencyClaim(cache_key, fingerprint, replay=earlier["body"])


def idempotency_remember(claim: IdempotencyClaim, body: dict) -> None:
    if claim.cache_key is None:
        return
    try:
        cache.set(claim.cache_key, {"fingerprint": claim.fingerprint, "body": body}, IDEMPOTENCY_TTL)
    except Exception:  # noqa: BLE001
        logger.warning("idempotency cache unavailable; replay protection is off for %s", body["decision_id"])
