"""Connector reads, scoped to the tenant: the list, one connector, its outbox messages."""

from __future__ import annotations

from django.db.models import Count, QuerySet
from django.http import Http404

from connectors.models import Connector
from core.models import OutboxMessage

VIEW = "connectors.view"
MANAGE = "connectors.manage"


def connector_list(*, tenant, user) -> QuerySet[Connector]:
    return Connector.objects.visible_to(user, VIEW, tenant=tenant).order_by("name", "id")


def connector_get(*, tenant, user, public_id: str) -> Connector:
    connector = connector_list(tenant=tenant, user=user).filter(public_id=public_id).first()
    if connector is None:
        raise Http404("No such connector.")
    return connector


def connector_messages(*, connector: Connector, status: str | None = None) -> QuerySet[OutboxMessage]:
    messages = OutboxMessage.objects.filter(tenant=connector.tenant, destination=connector.destination)
    if status:
        messages = messages.filter(status=status)
    return messages.order_by("-id")


def connector_message_get(*, connector: Connector, message_id: int) -> OutboxMessage:
    message = connector_messages(connector=connector).filter(pk=message_id).first()
    if message is None:
        raise Http404("No such message.")
    return message


def message_counts(*, connector: Connector) -> dict[str, int]:
    counts = {s: 0 for s in OutboxMessage.Status.values}
    rows = connector_messages(connector=connector).order_by().values("status").annotate(n=Count("id"))
    for row in rows:
        counts[row["status"]] = row["n"]
    return counts
