"""RFC 9457 problem details for every API error, from DRF and from Django alike."""

from __future__ import annotations

from http import HTTPStatus

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://cavra.dev/problems/"

# For @extend_schema: one error response, and the ones every tenant-scoped endpoint can answer.
PROBLEM = OpenApiResponse(description="RFC 9457 problem details (application/problem+json)")
ERRORS = {400: PROBLEM, 401: PROBLEM, 403: PROBLEM, 404: PROBLEM}


def as_drf_validation_error(exc: DjangoValidationError) -> exceptions.ValidationError:
    """A service's Django ValidationError as DRF's, keyed by field (or `detail`) -> a 400 naming the field."""
    return exceptions.ValidationError(getattr(exc, "message_dict", None) or {"detail": exc.messages})


def problem_body(
    status_code: int, detail: str, *, errors: dict | None = None, code: str | None = None
) -> dict:
    title = HTTPStatus(status_code).phrase if status_code in HTTPStatus._value2member_map_ else "Error"
    slug = code or title.lower().replace(" ", "-")
    body = {"type": PROBLEM_TYPE_BASE + slug, "title": title, "status": status_code, "detail": detail}
    if errors:
        body["errors"] = errors
    return body


def problem_response(status_code: int, detail: str, *, errors: dict | None = None, code: str | None = None):
    return JsonResponse(
        problem_body(status_code, detail, errors=errors, code=code),
        status=status_code,
        content_type=PROBLEM_CONTENT_TYPE,
    )


def _flatten(detail) -> dict[str, list[str]]:
    """DRF's nested error detail -> {"field.sub": ["message", ...]}, keys named after the fields."""
    out: dict[str, list[str]] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, list):
            if all(not isinstance(v, (dict, list)) for v in value):
                out.setdefault(prefix or "non_field_errors", []).extend(str(v) for v in value)
            else:
                for index, sub in enumerate(value):
                    walk(f"{prefix}[{index}]", sub)
        else:
            out.setdefault(prefix or "non_field_errors", []).append(str(value))

    walk("", detail)
    return out


def problem_exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            getattr(exc, "message_dict", None) or {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        names = ", ".join(sorted(errors))
        body = problem_body(400, f"Invalid input: {names}.", errors=errors, code="validation-error")
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        if isinstance(detail, (list, dict)):
            body = problem_body(response.status_code, "Request failed.", errors=_flatten(detail))
        else:
            body = problem_body(response.status_code, str(detail), code=getattr(detail, "code", None))
    new = Response(body, status=response.status_code, headers={k: v for k, v in response.items()})
    new.content_type = PROBLEM_CONTENT_TYPE
    return new


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def handler404(request, exception=None):
    if _is_api(request):
        return problem_response(status.HTTP_404_NOT_FOUND, "No resource at this URL.")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception, template_name="404.html")


def handler403(request, exception=None):
    if _is_api(request):
        return problem_response(status.HTTP_403_FORBIDDEN, str(exception) or "Permission denied.")
    from django.views.defaults import permission_denied

    return permission_denied(request, exception, template_name="403.html")


def handler500(request):
    if _is_api(request):
        return problem_response(500, "The server failed to process this request; it has been logged.")
    from django.views.defaults import server_error

    return server_error(request, template_name="500.html")


def handler400(request, exception=None):
    if _is_api(request):
        return problem_response(400, str(exception) or "Bad request.")
    from django.views.defaults import bad_request

    return bad_request(request, exception, template_name="400.html")
