"""Sign-in throttling per account, with exponential backoff, and the per-tenant record of sign-ins.

Behind a TLS proxy every person shares the proxy's address, so an address lock lets anyone lock a
whole tenant out with a few wrong passwords. The lock here is per account (the e-mail typed): after
SIGNIN_FREE_FAILURES consecutive failures the account waits SIGNIN_BACKOFF_BASE seconds, doubling
with every further failure up to SIGNIN_BACKOFF_MAX; a successful sign-in clears the count. Address
limits (allauth's ACCOUNT_RATE_LIMITS) apply only to the real client address, resolved through
ALLAUTH_TRUSTED_PROXY_COUNT / ALLAUTH_TRUSTED_CLIENT_IP_HEADER (docs/operations.md).

Every sign-in, failure and lockout is written to the audit trail of each tenant the account belongs
to (tenants.audit.record_audit), so it shows in the tenant's audit log and its evidence chain."""

from __future__ import annotations

import hashlib
import logging
import math
import time

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

_COUNT_KEY = "cavra:signin:failures:{}"
_LOCK_KEY = "cavra:signin:locked-until:{}"
_FORGET_AFTER = 24 * 3600  # old typos do not add up forever


def _limits() -> tuple[int, int, int]:
    return (
        getattr(settings, "SIGNIN_FREE_FAILURES", 5),
        getattr(settings, "SIGNIN_BACKOFF_BASE", 30),
        getattr(settings, "SIGNIN_BACKOFF_MAX", 15 * 60),
    )


def _account(email: str) -> str:
    return hashlib.sha256((email or "").strip().lower().encode()).hexdigest()


def signin_wait_seconds(email: str) -> int:
    """Seconds this account must wait before the next attempt (0: go ahead)."""
    try:
        locked_until = cache.get(_LOCK_KEY.format(_account(email)))
    except Exception:  # noqa: BLE001 - without the cache there is no lock to honour; allauth's limits still apply
        logger.warning("sign-in throttle: cache unavailable")
        return 0
    return max(0, math.ceil(locked_until - time.time())) if locked_until else 0


def signin_failure_count(email: str) -> tuple[int, int]:
    """Count one failure for this account (atomically, in Redis); returns (failures, lock seconds)."""
    free, base, cap = _limits()
    account = _account(email)
    try:
        cache.add(_COUNT_KEY.format(account), 0, _FORGET_AFTER)
        failures = cache.incr(_COUNT_KEY.format(account))
        cache.touch(_COUNT_KEY.format(account), _FORGET_AFTER)
        if failures < free:
            return failures, 0
        lock = min(cap, base * 2 ** (failures - free))
        cache.set(_LOCK_KEY.format(account), time.time() + lock, lock)
        return failures, lock
    except Exception:  # noqa: BLE001
        logger.warning("sign-in throttle: cache unavailable")
        return 0, 0


def signin_reset(email: str) -> None:
    account = _account(email)
    try:
        cache.delete_many([_COUNT_KEY.format(account), _LOCK_KEY.format(account)])
    except Exception:  # noqa: BLE001
        logger.warning("sign-in throttle: cache unavailable")


def signin_event_record(*, email: str, event: str, user=None, detail: dict | None = None) -> None:
    """Record `signin.<event>` in the audit trail of every tenant the account belongs to."""
    from tenants.audit import record_audit
    from tenants.models import Membership, User

    account = user or User.objects.filter(email__iexact=email.strip()).first()
    if account is None:
        return  # no tenant to tell: the address names nobody
    tenants = [m.tenant for m in Membership.objects.filter(user=account).select_related("tenant")]
    for tenant in tenants:
        record_audit(
            tenant=tenant,
            actor=account if event == "succeeded" else None,
            action=f"signin.{event}",
            obj=account,
            object_repr=account.email,
            after=detail or None,
        )
