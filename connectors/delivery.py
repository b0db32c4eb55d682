"""The outbox transport of the `connector` channel: sends a batch over HTTP, records the connector's health.

Runs inside the outbox's delivery transaction: the connector's last success / last error are written
with the attempt. Error texts never carry the secret (nor a chat webhook URL, which is one).
"""

from __future__ import annotations

import urllib.error
import urllib.request

from django.utils import timezone

from connectors.models import Connector
from connectors.protocols import BATCHABLE, MAX_BATCH, build_request
from core.models import OutboxMessage
from core.outbox import redact
from core.secrets import secret_decrypt

TIMEOUT_SECONDS = 10


class ConnectorDeliveryError(Exception):
    pass


def _connector_id(destination: str) -> int | None:
    prefix, _, pk = destination.partition(":")
    return int(pk) if prefix == "connector" and pk.isdigit() else None


def connector_batch_size(destination: str) -> int:
    connector = Connector.objects.filter(pk=_connector_id(destination)).only("kind", "batching").first()
    if connector is None or not connector.batching or connector.kind not in BATCHABLE:
        return 1
    return MAX_BATCH


def http_post(url: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - http(s) only (form)
            return response.status, response.read(2000)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(2000)


def connector_messages_send(messages: list[OutboxMessage]) -> None:
    connector = Connector.objects.filter(pk=_connector_id(messages[0].destination)).first()
    if connector is None:
        raise ConnectorDeliveryError("the connector was deleted")
    secret = ""
    try:
        secret = secret_decrypt(connector.secret_encrypted) if connector.secret_encrypted else ""
        url, headers, body = build_request(
            connector.kind,
            connector.url,
            connector.options or {},
            secret,
            [m.payload for m in messages],
            [m.idempotency_key for m in messages],
        )
        status, answer = http_post(url, headers, body)
        if not 200 <= status < 300:
            raise ConnectorDeliveryError(f"HTTP {status}: {answer[:300].decode('utf-8', 'replace')}")
    except Exception as exc:  # noqa: BLE001 - recorded on the connector, then re-raised for the outbox
        error = redact(f"{type(exc).__name__}: {exc}", secrets=[secret] if secret else [])
        Connector.objects.filter(pk=connector.pk).update(last_error=error, last_error_at=timezone.now())
        raise ConnectorDeliveryError(error) from None
    Connector.objects.filter(pk=connector.pk).update(last_success_at=timezone.now())
