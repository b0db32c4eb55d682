"""GET /metrics: the Prometheus exposition of core.metrics, for a scraper's token or a platform superuser.

Access: a bearer token equal to the METRICS_TOKEN setting (constant-time compare), or a signed-in
platform superuser. No or a wrong credential answers 401 (with `WWW-Authenticate: Bearer`), a
signed-in person who is not a superuser 403; with METRICS_TOKEN empty only superusers can scrape.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from core.api.problems import PROBLEM_CONTENT_TYPE, problem_body
from core.metrics import metrics_exposition


def _bearer(request: HttpRequest) -> str | None:
    scheme, _, credential = request.META.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
    return credential.strip() if scheme.lower() == "bearer" else None


def _refused(status: int, detail: str) -> JsonResponse:
    response = JsonResponse(problem_body(status, detail), status=status, content_type=PROBLEM_CONTENT_TYPE)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


def metrics_allowed(request: HttpRequest) -> int:
    """200 when the caller may scrape, else the status to refuse with (401 or 403)."""
    token = _bearer(request)
    if token is not None:
        expected = getattr(settings, "METRICS_TOKEN", "") or ""
        ok = bool(expected) and hmac.compare_digest(token.encode(), expected.encode())
        return 200 if ok else 401
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return 401
    return 200 if (user.is_active and user.is_superuser) else 403


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    status = metrics_allowed(request)
    if status == 401:
        return _refused(401, "Metrics need `Authorization: Bearer <METRICS_TOKEN>` or a superuser session.")
    if status == 403:
        return _refused(403, "Only a platform superuser (or the metrics token) may read metrics.")
    return HttpResponse(metrics_exposition(), content_type=CONTENT_TYPE_LATEST)
