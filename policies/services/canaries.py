"""The tenant's safety canaries: the shipped list plus the tenant's own, edited as YAML."""

from __future__ import annotations

import yaml
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from cavra_engine.policy import PolicyError
from cavra_engine.policy.canaries import Canary, load_canaries
from core.authz import authorize_actor
from policies.models import TenantCanaries
from tenants.audit import record_audit
from tenants.models import Tenant, User

MAX_CANARIES_BYTES = 64 * 1024


def tenant_canaries(*, tenant: Tenant) -> list[Canary]:
    """Shipped canaries first, then the tenant's own (their ids must not repeat a shipped one)."""
    row = TenantCanaries.objects.filter(tenant=tenant).first()
    return load_canaries() + (load_canaries(row.items) if row and row.items else [])


def tenant_canaries_set(*, tenant: Tenant, actor: User | None, source_text: str) -> TenantCanaries:
    """Replace the tenant's own canaries; a bad list is refused naming the entry and field, nothing changes."""
    authorize_actor(actor, tenant, "policies.publish")
    text = source_text or ""
    if len(text.encode("utf-8")) > MAX_CANARIES_BYTES:
        raise ValidationError({"canaries": f"The list is larger than {MAX_CANARIES_BYTES // 1024} KiB."})
    try:
        items = yaml.safe_load(text) if text.strip() else []
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise ValidationError(
            {"canaries": f"{where}not valid YAML ({getattr(exc, 'problem', None) or exc})."}
        )
    if items is None:
        items = []
    try:
        own = load_canaries(items)
    except PolicyError as exc:
        raise ValidationError(
            {
                "canaries": [
                    f"{e.get('file')}{'.' + e['path'] if e.get('path') else ''}: {e.get('message')}"
                    for e in exc.errors
                ]
            }
        )
    shipped = {c.id for c in load_canaries()}
    clash = sorted(c.id for c in own if c.id in shipped)
    if clash:
        raise ValidationError({"canaries": f"These ids are shipped canaries already: {', '.join(clash)}."})
    with transaction.atomic():
        row, _ = TenantCanaries.objects.select_for_update().get_or_create(tenant=tenant)
        before = row.items
        row.source_text, row.items = text, items
        row.updated_by, row.updated_at = actor, timezone.now()
        row.save()
        record_audit(
            tenant=tenant,
            actor=actor,
            action="policy.canaries.set",
            obj=row,
            object_id=str(row.pk),
            before={"canaries": [i.get("id") for i in before or []]},
            after={"canaries": [c.id for c in own]},
        )
    return row
