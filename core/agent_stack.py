"""The agent API's middleware stack: agent requests skip the page middleware entirely.

Every tool call of every agent goes through `/api/v1/`, so what runs around those views is paid on
each one. `AgentApiStackMiddleware` sits first in settings.MIDDLEWARE and routes a request that is
under `/api/` *and* presents an agent credential (a bearer that is not a personal `cvp_` token:
`cvr_…` or a CI OIDC JWT, as `core.api.exceptions.is_agent_request` reads it from the header) to
the short stack of settings.AGENT_API_MIDDLEWARE, which ends in the same URL resolution and views
as the page stack. Sessions, CSRF, messages, allauth, htmx, the tenant chosen in the session and the
MFA redirect have nothing to do for an agent: its token names its tenant (bound by
registry.authentication), it has no session, no cookie and no page.

Every other request — a browser session, a personal token, anonymous — takes the full page stack
unchanged, so staff and browser use of the same API URLs keeps working. The test client goes
through this middleware too, so the tests exercise the path production serves.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.utils.module_loading import import_string

from core.api.exceptions import is_agent_request

API_PREFIX = "/api/"


class AgentRequestDefaults:
    """What the page stack's AuthenticationMiddleware and TenantMiddleware would leave on a request
    without a session: nobody signed in and no tenant, until agent authentication binds its tenant."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.user = AnonymousUser()
        request.tenant = None
        request.membership = None
        request.memberships = []
        return self.get_response(request)


class _ViewHandler(BaseHandler):
    """Django's view step (resolve the URL, call the view) without any view/exception middleware."""

    def __init__(self):
        super().__init__()
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []


def agent_api_chain(paths: list[str]):
    """The WSGI-side chain of `paths` around the view step, built as Django builds MIDDLEWARE's."""
    get_response = convert_exception_to_response(_ViewHandler()._get_response)
    for path in reversed(paths):
        middleware = import_string(path)(get_response)
        get_response = convert_exception_to_response(middleware)
    return get_response


def is_agent_api_request(request) -> bool:
    return request.path_info.startswith(API_PREFIX) and is_agent_request(request)


class AgentApiStackMiddleware:
    """First in MIDDLEWARE: agent API requests take AGENT_API_MIDDLEWARE, everything else the rest."""

    def __init__(self, get_response):
        self.page_stack = get_response
        self.agent_stack = agent_api_chain(list(settings.AGENT_API_MIDDLEWARE))

    def __call__(self, request):
        if is_agent_api_request(request):
            return self.agent_stack(request)
        return self.page_stack(request)
