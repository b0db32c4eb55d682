"""Connector writes: create, update, delete, test-send, retry a message. Each is atomic and audited."""

from connectors.services.connectors import (
    connector_create,
    connector_delete,
    connector_message_retry,
    connector_test_send,
    connector_update,
)

__all__ = [
    "connector_create",
    "connector_delete",
    "connector_message_retry",
    "connector_test_send",
    "connector_update",
]
