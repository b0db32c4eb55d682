"""HTTP receivers on 127.0.0.1 that check each protocol the way the real service does.

Each receiver answers like its service (status codes and bodies), keeps every accepted event by
idempotency key (so a test can count duplicates and check order), and can be switched "down"
(503) or stopped and started on the same port.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Rejected(Exception):
    def __init__(self, status: int, body: dict | str):
        super().__init__(str(body))
        self.status, self.body = status, body


def _concatenated_json(text: str) -> list[dict]:
    decoder, items, i = json.JSONDecoder(), [], 0
    while i < len(text):
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        item, i = decoder.raw_decode(text, i)
        items.append(item)
    return items


def _basic(header: str) -> tuple[str, str]:
    if not header.startswith("Basic "):
        raise Rejected(401, {"error": {"message": "User Not Authenticated"}})
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password


def check_splunk_hec(r, secret):
    if r["path"] != "/services/collector/event":
        raise Rejected(404, {"text": "The requested URL was not found on this server.", "code": 404})
    if r["headers"].get("Authorization") != f"Splunk {secret}":
        raise Rejected(401, {"text": "Invalid token", "code": 4})
    events = _concatenated_json(r["body"].decode())
    if not events or any("event" not in e or not isinstance(e.get("time"), (int, float)) for e in events):
        raise Rejected(400, {"text": "Event field is required", "code": 12})
    return [e["event"] for e in events], (200, {"text": "Success", "code": 0})


def check_sentinel(r, secret, workspace="ws-1234"):
    if r["path"] != "/api/logs" or parse_qs(r["query"]).get("api-version") != ["2016-04-01"]:
        raise Rejected(404, "not found")
    date = r["headers"].get("x-ms-date", "")
    if abs(time.time() - parsedate_to_datetime(date).timestamp()) > 900:
        raise Rejected(403, {"Error": "InvalidAuthorization", "Message": "x-ms-date out of range"})
    sign = f"POST\n{len(r['body'])}\napplication/json\nx-ms-date:{date}\n/api/logs"
    digest = hmac.new(base64.b64decode(secret), sign.encode(), hashlib.sha256).digest()
    if r["headers"].get("Authorization") != f"SharedKey {workspace}:{base64.b64encode(digest).decode()}":
        raise Rejected(403, {"Error": "InvalidAuthorization", "Message": "An invalid scheme was specified"})
    log_type = r["headers"].get("Log-Type", "")
    if not log_type or not log_type.replace("_", "").isalnum() or len(log_type) > 100:
        raise Rejected(400, {"Error": "InvalidLogType"})
    records = json.loads(r["body"])
    if not isinstance(records, list) or not records:
        raise Rejected(400, {"Error": "InvalidDataFormat"})
    return records, (200, "")


def check_datadog(r, secret):
    if r["path"] != "/api/v2/logs":
        raise Rejected(404, {"errors": ["Not found"]})
    if r["headers"].get("DD-API-KEY") != secret:
        raise Rejected(403, {"errors": ["Forbidden"]})
    logs = json.loads(r["body"])
    if not isinstance(logs, list) or any("message" not in log or "ddsource" not in log for log in logs):
        raise Rejected(400, {"errors": ["Bad Request"]})
    return [log["cavra"] for log in logs], (202, {})


def check_webhook(r, secret):
    timestamp, signature = (
        r["headers"].get("X-Cavra-Timestamp", ""),
        r["headers"].get("X-Cavra-Signature", ""),
    )
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
        raise Rejected(400, "stale or missing timestamp")
    expected = (
        "v1=" + hmac.new(secret.encode(), timestamp.encode() + b"." + r["body"], hashlib.sha256).hexdigest()
    )
    if not hmac.compare_digest(expected, signature):
        raise Rejected(401, "bad signature")
    return [json.loads(r["body"])], (200, {"ok": True})


def check_servicenow(r, secret, user="cavra.integration"):
    if r["path"] != "/api/now/table/incident":
        raise Rejected(400, {"error": {"message": "Invalid table"}})
    if _basic(r["headers"].get("Authorization", "")) != (user, secret):
        raise Rejected(401, {"error": {"message": "User Not Authenticated"}})
    incident = json.loads(r["body"])
    if not incident.get("short_description") or incident.get("urgency") not in ("1", "2", "3"):
        raise Rejected(400, {"error": {"message": "Missing short_description or urgency"}})
    return [{"idempotency_key": incident["correlation_id"], **incident}], (
        201,
        {"result": {"number": "INC0010001"}},
    )


def check_jira(r, secret, user="bot@example.test"):
    if r["path"] != "/rest/api/2/issue":
        raise Rejected(404, {"errorMessages": ["Not found"]})
    header = r["headers"].get("Authorization", "")
    if not (
        header == f"Bearer {secret}" or (header.startswith("Basic ") and _basic(header) == (user, secret))
    ):
        raise Rejected(401, {"errorMessages": ["You are not authenticated."]})
    fields = json.loads(r["body"]).get("fields", {})
    if not (
        fields.get("project", {}).get("key")
        and fields.get("summary")
        and fields.get("issuetype", {}).get("name")
    ):
        raise Rejected(400, {"errors": {"summary": "required"}})
    key = r["headers"]["X-Cavra-Idempotency-Key"]
    return [{"idempotency_key": key, **fields}], (
        201,
        {"id": "10000", "key": f"{fields['project']['key']}-1"},
    )


def check_slack(r, secret_path):
    if r["path"] != secret_path:
        raise Rejected(404, "no_service")
    message = json.loads(r["body"])
    if not message.get("text") or not isinstance(message.get("blocks", []), list):
        raise Rejected(400, "invalid_payload")
    return [{"idempotency_key": r["headers"]["X-Cavra-Idempotency-Key"], **message}], (200, "ok")


def check_teams(r, secret_path):
    if r["path"] != secret_path:
        raise Rejected(404, "not found")
    message = json.loads(r["body"])
    attachment = (message.get("attachments") or [{}])[0]
    if (
        message.get("type") != "message"
        or attachment.get("contentType") != "application/vnd.microsoft.card.adaptive"
        or attachment.get("content", {}).get("type") != "AdaptiveCard"
    ):
        raise Rejected(400, "Bad payload")
    return [{"idempotency_key": r["headers"]["X-Cavra-Idempotency-Key"], **attachment["content"]}], (200, "1")


class Receiver:
    """`Receiver(check, secret)`: start(), .url, .down = True for 503s, stop()/start() keeps the port."""

    def __init__(self, check, secret, port: int = 0, delay: float = 0.0):
        self.check, self.secret, self.port, self.delay = check, secret, port, delay
        self.down = False
        self.events: list[dict] = []
        self.first_received: dict[str, float] = {}  # idempotency key -> time.time() of its first receipt
        self.requests = 0
        self.rejections: list[tuple[int, str]] = []
        self._lock = threading.Lock()
        self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def keys(self) -> list[str]:
        with self._lock:
            return [e["idempotency_key"] for e in self.events]

    def duplicates(self) -> dict[str, int]:
        return {k: n for k, n in Counter(self.keys).items() if n > 1}

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = urlsplit(self.path)
                request = {"path": parts.path, "query": parts.query, "headers": self.headers, "body": body}
                if receiver.delay:
                    time.sleep(receiver.delay)
                with receiver._lock:
                    receiver.requests += 1
                if receiver.down:
                    return self._answer(503, {"error": "temporarily unavailable"})
                try:
                    events, (status, answer) = receiver.check(request, receiver.secret)
                except Rejected as exc:
                    with receiver._lock:
                        receiver.rejections.append((exc.status, str(exc.body)))
                    return self._answer(exc.status, exc.body)
                now = time.time()
                with receiver._lock:
                    receiver.events.extend(events)
                    for event in events:
                        receiver.first_received.setdefault(event["idempotency_key"], now)
                return self._answer(status, answer)

            def _answer(self, status, answer):
                data = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header(
                    "Content-Type", "text/plain" if isinstance(answer, str) else "application/json"
                )
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
