"""A small HTTP client for the decision API on the standard library's http.client.

Every failure is an exception an adapter turns into a deny: the portal unreachable, a timeout, a 5xx
(the portal's 503 means "cannot decide: block"), a refused token or an answer that is not JSON."""

from __future__ import annotations

import http.client
import json
from urllib.parse import quote, urlencode, urlsplit

USER_AGENT = "cavra-agent/1"


class PortalError(Exception):
    """Base: the portal did not give a usable answer."""


class PortalUnavailable(PortalError):
    """Unreachable, timed out, 5xx or an unreadable answer."""


class PortalAuthError(PortalError):
    """401/403: the token is missing, unknown, revoked or expired, or the agent may not do this."""


class PortalRejected(PortalError):
    """4xx other than auth: the request itself was refused (the detail names the field)."""


def _detail(body: bytes) -> str:
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return body[:200].decode("utf-8", "replace")
    if isinstance(document, dict):
        detail = document.get("detail") or document.get("title") or ""
        errors = document.get("errors")
        if errors:
            detail = f"{detail} {json.dumps(errors, sort_keys=True)}".strip()
        return str(detail)
    return str(document)[:200]


class PortalClient:
    def __init__(self, base_url: str, token: str, *, timeout: float = 5.0):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def absolute(self, url: str | None) -> str | None:
        if not url:
            return url
        return url if url.startswith(("http://", "https://")) else self.base_url + url

    def request(
        self, method: str, path: str, body: dict | None = None, *, timeout: float | None = None
    ) -> dict:
        # http.client rather than urllib.request: the hook runs as a new process per tool call, and
        # urllib.request costs several times its import time for features not needed here.
        timeout = timeout or self.timeout
        data = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT, "Connection": "close"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if data is not None:
            headers["Content-Type"] = "application/json"
        parts = urlsplit(self.base_url)
        connection_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        try:
            connection = connection_class(parts.hostname or "", parts.port, timeout=timeout)
            try:
                connection.request(method, (parts.path or "") + path, body=data, headers=headers)
                response = connection.getresponse()
                status, raw = response.status, response.read()
            finally:
                connection.close()
        except TimeoutError:
            raise PortalUnavailable(f"the portal at {self.base_url} did not answer within {timeout:g} s")
        except (OSError, http.client.HTTPException, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise PortalUnavailable(f"the portal at {self.base_url} is unreachable: {reason}")
        if status >= 400:
            detail = _detail(raw)
            if status in (401, 403):
                raise PortalAuthError(f"the portal refused the agent's credential ({status}): {detail}")
            if status >= 500:
                raise PortalUnavailable(f"the portal cannot decide ({status}): {detail}")
            raise PortalRejected(f"the portal refused the request ({status}): {detail}")
        if status >= 300:
            raise PortalUnavailable(f"the portal answered with a redirect ({status}); check CAVRA_URL")
        try:
            document = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise PortalUnavailable("the portal's answer is not JSON")
        if not isinstance(document, dict):
            raise PortalUnavailable("the portal's answer is not a JSON object")
        return document

    def decide(self, body: dict) -> dict:
        answer = self.request("POST", "/api/v1/decisions", body)
        if answer.get("decision") not in ("allow", "block", "require_approval"):
            raise PortalUnavailable("the portal's answer carries no decision")
        return answer

    def approval(self, approval_id: str, *, wait: int = 0) -> dict:
        wait = max(0, min(int(wait), 30))
        return self.request(
            "GET", f"/api/v1/approvals/{quote(approval_id, safe='')}?wait={wait}", timeout=self.timeout + wait
        )

    def policy_bundle(self, scope: str, *, repository: str | None, environment: str | None) -> dict:
        query = urlencode({k: v for k, v in (("repository", repository), ("environment", environment)) if v})
        return self.request(
            "GET", f"/api/v1/policy-bundles/{quote(scope, safe='')}" + (f"?{query}" if query else "")
        )
