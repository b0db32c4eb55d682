"""Request hygiene shared by every page and endpoint."""

from __future__ import annotations

from urllib.parse import unquote

from cavra_portal.api.problems import handler400


class RefuseNullCharactersMiddleware:
    """A NUL in the path or query string can never name anything here, and PostgreSQL cannot even
    compare it: answer 400 up front instead of letting it reach a query and become a 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        query = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "%00" in query or "\x00" in unquote(query):
            return handler400(request, ValueError("Null characters are not allowed in the URL."))
        return self.get_response(request)
