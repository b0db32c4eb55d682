"""Request hygiene shared by every page and endpoint."""

from __future__ import annotations

from django.http import HttpResponseBadRequest

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
