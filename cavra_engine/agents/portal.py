"""A small HTTP client for the decision API on the standard library (no start-up cost beyond urllib).

Every failure is an exception an adapter turns into a deny: the portal unreachable, a timeout, a 5xx
(the portal's 503 means "cannot decide: block"), a refused token or an answer that is not JSON."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from urllib.parse import quote

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
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        request.add_header("User-Agent", USER_AGENT)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read() or b""
            detail = _detail(raw)
            if exc.code in (401, 403):
                raise PortalAuthError(f"the portal refused the agent's credential ({exc.code}): {detail}")
            if exc.code >= 500:
                raise PortalUnavailable(f"the portal cannot decide ({exc.code}): {detail}")
            raise PortalRejected(f"the portal refused the request ({exc.code}): {detail}")
        except TimeoutError:
            raise PortalUnavailable(
                f"the portal at {self.base_url} did not answer within {timeout or self.timeout:g} s"
            )
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, (TimeoutError, socket.timeout)):
                raise PortalUnavailable(
                    f"the portal at {self.base_url} did not answer within {timeout or self.timeout:g} s"
                )
            raise PortalUnavailable(f"the portal at {self.base_url} is unreachable: {reason}")
        except (OSError, ValueError) as exc:  # connection reset, bad status line, ...
            raise PortalUnavailable(f"the portal at {self.base_url} is unreachable: {exc}")
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
        from urllib.parse import urlencode

        query = urlencode({k: v for k, v in (("repository", repository), ("environment", environment)) if v})
        return self.request(
            "GET", f"/api/v1/policy-bundles/{quote(scope, safe='')}" + (f"?{query}" if query else "")
        )
