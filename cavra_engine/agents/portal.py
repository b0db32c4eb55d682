"""A small HTTP client for the decision API on the standard library's socket module.

Every failure is an exception an adapter turns into a deny: the portal unreachable, a timeout, a 5xx
(the portal's 503 means "cannot decide: block"), a refused token or an answer that is not JSON."""

from __future__ import annotations

import json
import socket
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


def _exchange(base_url: str, method: str, path: str, headers: dict, data: bytes, timeout: float):
    """One HTTP/1.1 request with `Connection: close`, read to the end: (status, body bytes).

    Written on the socket module rather than http.client because the hook is a new process per tool
    call, and http.client (with the email parser and ssl it imports) was most of the hook's own start-up
    CPU time; ssl is imported only for an https portal. Handles Content-Length, chunked and read-to-close
    bodies, which is all a response to a one-shot request can use."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {base_url}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host_header = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    target = (parts.path.rstrip("/") or "") + path
    head = [f"{method} {target} HTTP/1.1", f"Host: {host_header}", f"Content-Length: {len(data)}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data
    sock = socket.create_connection((parts.hostname, port), timeout=timeout)
    try:
        if parts.scheme == "https":
            import ssl

            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname)
        sock.sendall(request)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        sock.close()
    response = b"".join(chunks)
    header_end = response.find(b"\r\n\r\n")
    if header_end < 0:
        raise ValueError("the portal closed the connection before a complete answer")
    lines = response[:header_end].decode("latin-1").split("\r\n")
    status_parts = lines[0].split(" ", 2)
    if len(status_parts) < 2 or not status_parts[0].startswith("HTTP/") or not status_parts[1].isdigit():
        raise ValueError(f"not an HTTP answer: {lines[0][:80]!r}")
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    payload = response[header_end + 4 :]
    if "chunked" in fields.get("transfer-encoding", "").lower():
        payload = _dechunk(payload)
    elif fields.get("content-length", "").isdigit():
        payload = payload[: int(fields["content-length"])]
    return int(status_parts[1]), payload


def _dechunk(data: bytes) -> bytes:
    out, position = [], 0
    while True:
        line_end = data.index(b"\r\n", position)
        size = int(data[position:line_end].split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            return b"".join(out)
        start = line_end + 2
        out.append(data[start : start + size])
        position = start + size + 2


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
        timeout = timeout or self.timeout
        data = b"" if body is None else json.dumps(body).encode("utf-8")
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT, "Connection": "close"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            status, raw = _exchange(self.base_url, method, path, headers, data, timeout)
        except TimeoutError:
            raise PortalUnavailable(f"the portal at {self.base_url} did not answer within {timeout:g} s")
        except (OSError, ValueError) as exc:
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
        if not isinstance(answer.get("decision"), str):  # which verdicts it knows is the gate's business
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
