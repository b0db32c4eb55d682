"""Connector pages and API: tenant admins configure; auditors read the list, the health and the outbox."""

from core.models import OutboxMessage
from core.roles import Role
from tests.factories import ConnectorFactory
from tests.permission_matrix import Entry

READ = (Role.TENANT_ADMIN, Role.AUDITOR)
MANAGE = (Role.TENANT_ADMIN,)


def _connector(ctx):
    return ConnectorFactory(tenant=ctx.tenant)


def _page(ctx) -> dict:
    return {"public_id": _connector(ctx).public_id}


def _api(ctx) -> dict:
    return {"connector_id": _connector(ctx).public_id}


def _dead_letter(ctx, key) -> dict:
    connector = _connector(ctx)
    message = OutboxMessage.objects.create(
        tenant=ctx.tenant,
        kind="connector.decision",
        idempotency_key=f"matrix:{connector.pk}:{OutboxMessage.objects.count()}",
        destination=connector.destination,
        status=OutboxMessage.Status.FAILED,
        payload={"summary": "x"},
    )
    return {key: connector.public_id, "message_id": message.pk}


FORM = {
    "name": "Matrix hook",
    "kind": "webhook",
    "url": "https://siem.example.test/hook",
    "secret": "s3cret-value",
    "event_types": ["decision"],
    "min_severity": "low",
    "redaction": "standard",
    "enabled": "on",
}

ENTRIES = [
    Entry("connectors:list", roles=READ),
    Entry("connectors:export", roles=READ, note="CSV of the page's rows (tests/core/test_list_tables.py)"),
    Entry("connectors:create", roles=MANAGE),
    Entry("connectors:create", roles=MANAGE, method="POST", data=FORM, ok=(302,)),
    Entry("connectors:detail", roles=READ, kwargs=_page),
    Entry("connectors:edit", roles=MANAGE, kwargs=_page),
    Entry("connectors:edit", roles=MANAGE, method="POST", kwargs=_page, data=FORM, ok=(302,)),
    Entry("connectors:test", roles=MANAGE, method="POST", kwargs=_page, ok=(302,)),
    Entry("connectors:delete", roles=MANAGE, method="POST", kwargs=_page, ok=(302,)),
    Entry(
        "connectors:message-retry",
        roles=MANAGE,
        method="POST",
        kwargs=lambda ctx: _dead_letter(ctx, "public_id"),
        ok=(302,),
    ),
    Entry("connectors-api:connectors", roles=READ, api=True),
    Entry(
        "connectors-api:connectors",
        roles=MANAGE,
        api=True,
        method="POST",
        data={**FORM, "enabled": True},
        ok=(201,),
    ),
    Entry("connectors-api:connector", roles=READ, api=True, kwargs=_api),
    Entry(
        "connectors-api:connector",
        roles=MANAGE,
        api=True,
        method="PATCH",
        kwargs=_api,
        data={"enabled": False},
    ),
    Entry("connectors-api:connector", roles=MANAGE, api=True, method="DELETE", kwargs=_api, ok=(204,)),
    Entry("connectors-api:connector-test", roles=MANAGE, api=True, method="POST", kwargs=_api, ok=(202,)),
    Entry("connectors-api:connector-outbox", roles=READ, api=True, kwargs=_api),
    Entry(
        "connectors-api:connector-outbox-retry",
        roles=MANAGE,
        api=True,
        method="POST",
        kwargs=lambda ctx: _dead_letter(ctx, "connector_id"),
        ok=(202,),
    ),
]
