"""The wire format of each connector kind: one HTTP request for a batch of events.

`build_request(kind, url, options, secret, events, keys)` returns (url, headers, body bytes). Pure:
no database, no network, so the tests' receivers check exactly what is built here. Protocols:
- Splunk HEC: POST <base>/services/collector/event, `Authorization: Splunk <token>`, one JSON event
  object per event, concatenated (HEC's batch format).
- Sentinel Data Collector API: POST <base>/api/logs?api-version=2016-04-01, JSON array,
  `Authorization: SharedKey <workspace>:<base64 HMAC-SHA256(base64-decoded key, string-to-sign)>` with
  string-to-sign "POST\\n<length>\\napplication/json\\nx-ms-date:<RFC 1123 date>\\n/api/logs".
- Datadog logs intake v2: POST <url> (…/api/v2/logs), `DD-API-KEY`, JSON array of log objects.
- Webhook: POST <url>, the event as JSON, `X-Cavra-Timestamp` and
  `X-Cavra-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>` (docs/connectors.md).
- ServiceNow: POST <instance>/api/now/table/incident, HTTP Basic, incident fields.
- Jira: POST <site>/rest/api/2/issue, Basic (user + API token) or Bearer (personal access token).
- Slack incoming webhook / Teams incoming webhook: the webhook URL is the secret; a message with
  a link to the page (the link opens the portal; approving still needs signing in with the role).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from email.utils import formatdate

BATCHABLE = {"splunk_hec", "sentinel", "datadog"}
MAX_BATCH = 100

JSON = "application/json"


class ConnectorConfigError(ValueError):
    """The connector's settings cannot produce a request (named field in the message)."""


def _json(value) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def _join(base: str, path: str) -> str:
    base = base.rstrip("/")
    return base if base.endswith(path) else base + path


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def sentinel_signature(workspace_id: str, shared_key: str, date: str, content_length: int) -> str:
    string_to_sign = f"POST\n{content_length}\n{JSON}\nx-ms-date:{date}\n/api/logs"
    try:
        key = base64.b64decode(shared_key, validate=True)
    except ValueError as exc:
        raise ConnectorConfigError("secret: the Sentinel shared key must be base64") from exc
    digest = hmac.new(key, string_to_sign.encode(), hashlib.sha256).digest()
    return f"SharedKey {workspace_id}:{base64.b64encode(digest).decode()}"


def _text(event: dict) -> str:
    lines = [event["summary"], f"Severity: {event['severity']}", f"Event: {event['type']} ({event['id']})"]
    if event.get("url"):
        lines.append(f"Open in CAVRA (sign-in required; this link approves nothing): {event['url']}")
    return "\n".join(lines)


def build_request(
    kind: str, url: str, options: dict, secret: str, events: list[dict], keys: list[str]
) -> tuple[str, dict[str, str], bytes]:
    headers = {"Content-Type": JSON, "User-Agent": "CAVRA-Portal", "X-Cavra-Idempotency-Key": ",".join(keys)}
    if kind == "splunk_hec":
        body = b"\n".join(
            _json(
                {
                    "time": time.time(),
                    "host": "cavra-portal",
                    "source": "cavra",
                    "sourcetype": options.get("sourcetype") or "cavra:event",
                    **({"index": options["index"]} if options.get("index") else {}),
                    "event": {**e, "idempotency_key": k},
                }
            )
            for e, k in zip(events, keys, strict=True)
        )
        headers["Authorization"] = f"Splunk {secret}"
        return _join(url, "/services/collector/event"), headers, body
    if kind == "sentinel":
        workspace = options.get("workspace_id", "")
        if not workspace:
            raise ConnectorConfigError("options.workspace_id: the Sentinel workspace id is required")
        body = _json([{**e, "idempotency_key": k} for e, k in zip(events, keys, strict=True)])
        date = formatdate(usegmt=True)
        headers.update(
            {
                "Log-Type": options.get("log_type") or "CavraEvents",
                "x-ms-date": date,
                "time-generated-field": "time",
                "Authorization": sentinel_signature(workspace, secret, date, len(body)),
            }
        )
        return _join(url, "/api/logs") + "?api-version=2016-04-01", headers, body
    if kind == "datadog":
        body = _json(
            [
                {
                    "ddsource": "cavra",
                    "service": options.get("service") or "cavra-portal",
                    "hostname": "cavra-portal",
                    "ddtags": f"event_type:{e['type']},severity:{e['severity']}",
                    "message": e["summary"],
                    "cavra": {**e, "idempotency_key": k},
                }
                for e, k in zip(events, keys, strict=True)
            ]
        )
        headers["DD-API-KEY"] = secret
        return _join(url, "/api/v2/logs"), headers, body
    if len(events) != 1:
        raise ConnectorConfigError(f"{kind} sends one event per request")
    event, key = events[0], keys[0]
    if kind == "webhook":
        body = _json({**event, "idempotency_key": key})
        timestamp = str(int(time.time()))
        headers.update(
            {"X-Cavra-Timestamp": timestamp, "X-Cavra-Signature": webhook_signature(secret, timestamp, body)}
        )
        return url, headers, body
    if kind == "servicenow":
        user = options.get("username", "")
        if not user:
            raise ConnectorConfigError("options.username: the ServiceNow user is required")
        urgency = {"critical": "1", "high": "1", "medium": "2"}.get(event["severity"], "3")
        body = _json(
            {
                "short_description": event["summary"][:160],
                "description": _text(event),
                "urgency": urgency,
                "impact": urgency,
                "category": "security",
                "correlation_id": key,
                "correlation_display": "CAVRA",
            }
        )
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()
        return _join(url, "/api/now/table/incident"), headers, body
    if kind == "jira":
        project = options.get("project_key", "")
        if not project:
            raise ConnectorConfigError("options.project_key: the Jira project key is required")
        user = options.get("username", "")
        body = _json(
            {
                "fields": {
                    "project": {"key": project},
                    "summary": event["summary"][:250],
                    "description": _text(event),
                    "issuetype": {"name": options.get("issue_type") or "Task"},
                    "labels": ["cavra", "cavra-" + hashlib.sha256(key.encode()).hexdigest()[:16]],
                }
            }
        )
        headers["Authorization"] = (
            "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode() if user else f"Bearer {secret}"
        )
        return _join(url, "/rest/api/2/issue"), headers, body
    if kind == "slack":
        blocks = [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*{event['summary']}*\nSeverity: {event['severity']}"},
            }
        ]
        if event.get("url"):
            blocks.append(
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "text": {"type": "plain_text", "text": "Open in CAVRA"},
                            "url": event["url"],
                        }
                    ],
                }
            )
        return secret, headers, _json({"text": _text(event), "blocks": blocks})
    if kind == "teams":
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                {"type": "TextBlock", "text": event["summary"], "weight": "Bolder", "wrap": True},
                {
                    "type": "FactSet",
                    "facts": [
                        {"title": "Severity", "value": event["severity"]},
                        {"title": "Event", "value": f"{event['type']} ({event['id']})"},
                    ],
                },
            ],
            "actions": [{"type": "Action.OpenUrl", "title": "Open in CAVRA", "url": event["url"]}]
            if event.get("url")
            else [],
        }
        body = _json(
            {
                "type": "message",
                "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}],
            }
        )
        return secret, headers, body
    raise ConnectorConfigError(f"kind: unknown connector kind {kind!r}")
