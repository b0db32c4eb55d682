"""Request hygiene shared by every page and endpoint, and htmx details that keep caches honest."""

from __future__ import annotations

from django.http import HttpResponseBadRequest
from django.utils.cache import patch_vary_headers
from django_htmx.middleware import HtmxDetails
from django_htmx.middleware import HtmxMiddleware as BaseHtmxMiddleware

from core.api.problems import problem_response


class RefuseNullCharactersMiddleware:
    """A NUL in the path or a query parameter can never name anything here, and PostgreSQL cannot even
    compare it: answer 400 (naming the parameter) up front instead of letting it become a 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        fields = []
        if "\x00" in request.path:
            fields.append("path")
        fields += sorted(
            {k for k, values in request.GET.lists() if "\x00" in k or any("\x00" in v for v in values)}
        )
        if not fields:
            return self.get_response(request)
        detail = f"Null characters are not allowed in the URL ({', '.join(fields)})."
        if request.path.startswith("/api/"):
            return problem_response(
                400, detail, errors={f: ["Null characters are not allowed."] for f in fields}
            )
        return HttpResponseBadRequest(detail)


class _ConsultedHtmxDetails(HtmxDetails):
    """django-htmx's `request.htmx`, remembering which HX-* headers the view (or template) read."""

    def __init__(self, request):
        super().__init__(request)
        self.consulted: set[str] = set()

    def _get_header_value(self, name: str) -> str | None:
        self.consulted.add(name)
        return super()._get_header_value(name)


class HtmxMiddleware(BaseHtmxMiddleware):
    """django-htmx's middleware, plus `Vary` on every HX-* header the response was chosen by.

    A page that answers an htmx request with a fragment and a plain request with the whole page has
    two bodies under one URL; without `Vary: HX-Request` a browser or proxy cache may hand the
    fragment to a plain navigation (Back button) or the page to htmx. Recording the headers actually
    read makes this hold for every view without a decorator to forget."""

    async_capable = False  # the portal runs under WSGI; Django adapts if that ever changes

    def __call__(self, request):
        request.htmx = details = _ConsultedHtmxDetails(request)
        response = self.get_response(request)
        if details.consulted:
            patch_vary_headers(response, sorted(details.consulted))
        return response
