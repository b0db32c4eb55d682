"""Fail closed: what the API answers when the database, the cache or our own code breaks mid-request.

An agent asks before it acts, so an answer it cannot get must read as `block`: any failure on a
request that carries an agent credential is a 503 problem with `"decision": "block"`, a reason a
person understands and `Retry-After`. A person's request that loses the database or the cache gets
the same 503 (without a decision); any other unexpected error of a person's request stays a 500.

Both paths use these helpers: the DRF exception handler (core.api.problems) for failures inside an
API view, authentication included, and FailClosedMiddleware for failures anywhere else (middleware,
URL resolution, plain Django views).
"""

from __future__ import annotations

import logging
import sys

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import DatabaseError, InterfaceError, OperationalError, transaction
from django.http import JsonResponse
from rest_framework.exceptions import APIException, ParseError
from rest_framework.response import Response

from core.api.problems import PROBLEM_CONTENT_TYPE, problem_body, problem_exception_handler
from core.metrics import fail_closed_observed

logger = logging.getLogger("cavra.fail_closed")

RETRY_AFTER_SECONDS = 5
# Personal tokens belong to people; every other bearer (cvr_ agent tokens, CI OIDC JWTs) to an agent.
_PERSONAL_TOKEN_PREFIX = "cvp_"
_EXCEPTION_ATTR = "_cavra_uncaught_exception"


def is_agent_request(request) -> bool:
    """True when the request presents an agent credential. Read from the header (never from the
    database), so it holds even when authentication itself is what failed."""
    request = getattr(request, "_request", request)
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, credential = header.strip().partition(" ")
    credential = credential.strip()
    return (
        scheme.lower() == "bearer" and bool(credential) and not credential.startswith(_PERSONAL_TOKEN_PREFIX)
    )


def _cache_errors() -> tuple[type[BaseException], ...]:
    from redis import exceptions as redis_exceptions

    return (redis_exceptions.ConnectionError, redis_exceptions.TimeoutError)


def outage_reason(exc: BaseException | None) -> str | None:
    """A sentence naming the dependency that is down, or None when `exc` is not an outage."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        return "The portal's database is unreachable."
    if exc is not None and isinstance(exc, _cache_errors()):
        return "The portal's cache (Redis) is unreachable."
    return None


def fail_closed_body(reason: str, *, agent: bool) -> dict:
    """The 503 body; built once per fail-closed answer, so this is where the answers are counted."""
    fail_closed_observed(agent=agent)
    if agent:
        body = problem_body(
            503, f"{reason} The portal cannot decide; treat this as block.", code="decision-unavailable"
        )
        body.update({"decision": "block", "reason": reason})
        return body
    return problem_body(503, f"{reason} Try again shortly.", code="service-unavailable")


def fail_closed_headers() -> dict[str, str]:
    return {"Retry-After": str(RETRY_AFTER_SECONDS)}


def fail_closed_reason(exc: BaseException | None, *, agent: bool) -> str | None:
    """The reason to answer 503 for this failure, or None when it should stay what it is (a person's
    request hitting a bug: a 500 that gets logged and fixed)."""
    reason = outage_reason(exc)
    if reason is None and agent:
        if isinstance(exc, DatabaseError):
            reason = "The portal's database refused the request."
        else:
            reason = "An internal error stopped the portal from deciding; nothing was recorded."
    return reason


def fail_closed_response(reason: str, *, agent: bool) -> JsonResponse:
    response = JsonResponse(
        fail_closed_body(reason, agent=agent), status=503, content_type=PROBLEM_CONTENT_TYPE
    )
    for name, value in fail_closed_headers().items():
        response[name] = value
    return response


class PayloadTooLarge(APIException):
    status_code = 413
    default_detail = "The request body is too large."
    default_code = "payload-too-large"


def api_exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: outages and (for agents) any unexpected error fail closed; everything
    else becomes the usual problem details."""
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        exc = PayloadTooLarge(
            f"The request body is larger than {limit} bytes (limit DATA_UPLOAD_MAX_MEMORY_SIZE)."
        )
    elif isinstance(exc, SuspiciousOperation):
        exc = ParseError(str(exc) or "Bad request.")
    response = problem_exception_handler(exc, context)
    if response is not None:
        return response
    request = context.get("request")
    agent = request is not None and is_agent_request(request)
    reason = fail_closed_reason(exc, agent=agent)
    if reason is None:
        return None  # a person's request hit a bug: Django's 500 path logs it
    logger.error("failing closed: %s", reason, exc_info=exc)
    try:
        if transaction.get_connection().in_atomic_block:
            transaction.set_rollback(True)
    except DatabaseError:
        pass
    response = Response(fail_closed_body(reason, agent=agent), status=503, headers=fail_closed_headers())
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def remember_uncaught_exception(sender, request=None, **kwargs) -> None:
    """got_request_exception receiver: keep the exception Django is about to turn into a 500 so the
    fail-closed middleware can tell an outage from a bug."""
    if request is not None:
        setattr(request, _EXCEPTION_ATTR, sys.exc_info()[1])


class FailClosedMiddleware:
    """Outermost API guard: a 500 for an agent's request becomes 503 + block, and a database or cache
    outage becomes 503 for everyone. Sits first in MIDDLEWARE so it sees failures of every other
    middleware too (Django has already turned those into 500 responses by then)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code != 500 or not request.path.startswith("/api/"):
            return response
        exc = getattr(request, _EXCEPTION_ATTR, None)
        agent = is_agent_request(request)
        reason = fail_closed_reason(exc, agent=agent)
        if reason is None:
            return response
        logger.error("failing closed on %s %s: %s", request.method, request.path, reason)
        return fail_closed_response(reason, agent=agent)
