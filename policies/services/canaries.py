"""The tenant's safety canaries: the shipped list, the tenant's overrides of it, and the tenant's own, as YAML.

An entry whose id is a shipped canary overrides it (same fields) or, with `disabled: true`, switches it
off. A change that adds or tightens applies at once; one that disables, overrides or removes a canary
is a loosening and waits for an approval by someone else (subject type `canary_change`). Every
applied or requested change is audited, and the audit goes into the evidence chain.
"""

from __future__ import annotations

import yaml
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from cavra_engine.policy import PolicyError
from cavra_engine.policy.canaries import Canary, canary_from_mapping, load_canaries
from core.authz import authorize_actor
from policies.models import TenantCanaries
from tenants.audit import record_audit
from tenants.models import Tenant, User

MAX_CANARIES_BYTES = 64 * 1024
SUBJECT_TYPE = "canary_change"


def effective_canaries(items: list | None) -> list[Canary]:
    """Shipped canaries (overridden or disabled by the tenant's entries of the same id), then the tenant's own."""
    items = items or []
    by_id = {item.get("id"): item for item in items if isinstance(item, dict)}
    out: list[Canary] = []
    shipped_ids = set()
    for canary in load_canaries():
        shipped_ids.add(canary.id)
        entry = by_id.get(canary.id)
        if entry is None:
            out.append(canary)
        elif not entry.get("disabled"):
            out.extend(load_canaries([_without_disabled(entry)]))
    own = [i for i in items if not isinstance(i, dict) or i.get("id") not in shipped_ids]
    out.extend(load_canaries([_without_disabled(i) for i in own]))
    return out


def _without_disabled(item):
    if not isinstance(item, dict):
        return item  # load_canaries names the entry that is not a mapping
    return {key: value for key, value in item.items() if key != "disabled"}


def tenant_canaries(*, tenant: Tenant) -> list[Canary]:
    row = TenantCanaries.objects.filter(tenant=tenant).first()
    return effective_canaries(row.items if row else [])


def _parse(text: str) -> list[dict]:
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
    items = items if items is not None else []
    if not isinstance(items, list):
        raise ValidationError({"canaries": "The canaries must be a YAML list."})
    shipped = {c.id for c in load_canaries()}
    seen: set = set()
    for n, item in enumerate(items):
        if isinstance(item, dict) and item.get("id") in seen:
            raise ValidationError({"canaries": f"canaries[{n}].id: {item['id']!r} is listed twice."})
        if isinstance(item, dict) and "disabled" in item:
            if not isinstance(item["disabled"], bool):
                raise ValidationError({"canaries": f"canaries[{n}].disabled: expected true/false."})
            if item["disabled"] and item.get("id") not in shipped:
                raise ValidationError(
                    {
                        "canaries": f"canaries[{n}].disabled: only a shipped canary can be disabled (remove your own)."
                    }
                )
        seen.add(item.get("id") if isinstance(item, dict) else None)
    try:
        # validated in place so an error names the entry's own index; a disabled entry needs only its id
        for n, item in enumerate(items):
            if not (isinstance(item, dict) and item.get("disabled")):
                canary_from_mapping(_without_disabled(item), where=f"canaries[{n}]")
        effective_canaries(items)
    except PolicyError as exc:
        raise ValidationError(
            {
                "canaries": [
                    f"{e.get('file')}{'.' + e['path'] if e.get('path') else ''}: {e.get('message')}"
                    for e in exc.errors
                ]
            }
        )
    return items


def canary_change_reasons(before: list[Canary], after: list[Canary]) -> list[str]:
    """What a change takes away: each canary no longer checked, or checked differently (a loosening)."""
    now = {c.id: c for c in after}
    reasons = []
    for canary in before:
        if canary.id not in now:
            reasons.append(f"canary {canary.id} ({canary.title}) no longer checked")
        elif now[canary.id].case != canary.case:
            reasons.append(f"canary {canary.id} ({canary.title}) now checks a different action")
    return reasons


def _clear_pending(row: TenantCanaries) -> None:
    row.pending_source_text, row.pending_items, row.pending_reasons, row.pending_approval_ref = "", [], [], ""
    row.pending_by = None


def _apply(
    row: TenantCanaries, *, text: str, items: list, actor: User | None, approval_ref: str = ""
) -> None:
    before = [c.id for c in effective_canaries(row.items)]
    row.source_text, row.items, row.updated_by, row.updated_at = text, items, actor, timezone.now()
    _clear_pending(row)
    row.save()
    record_audit(
        tenant=row.tenant,
        actor=actor,
        action="policy.canaries.set",
        obj=row,
        object_id=str(row.pk),
        before={"canaries": before},
        after={
            "canaries": [c.id for c in effective_canaries(items)],
            "disabled": sorted(i["id"] for i in items if i.get("disabled")),
            **({"approval": approval_ref} if approval_ref else {}),
        },
    )


def tenant_canaries_set(*, tenant: Tenant, actor: User | None, source_text: str) -> TenantCanaries:
    """Replace the tenant's list: applied at once unless it loosens; then it waits for an approval."""
    authorize_actor(actor, tenant, "policies.publish")
    from approvals.services import approval_request_open_for_subject
    from core.roles import Role

    text = source_text or ""
    items = _parse(text)
    with transaction.atomic():
        row, _ = TenantCanaries.objects.select_for_update().get_or_create(tenant=tenant)
        if row.pending_approval_ref:
            raise ValidationError(
                {"canaries": f"A loosening change is waiting for approval {row.pending_approval_ref}; "
                 "it must be decided first."}
            )  # fmt: skip
        reasons = canary_change_reasons(effective_canaries(row.items), effective_canaries(items))
        if not reasons:
            _apply(row, text=text, items=items, actor=actor)
            return row
        approval = approval_request_open_for_subject(
            tenant=tenant,
            subject_type=SUBJECT_TYPE,
            subject_ref=f"tcn_{row.pk}_{timezone.now().strftime('%Y%m%d%H%M%S%f')}",
            requested_by=actor,
            title="Safety canary change (loosening)",
            reason="; ".join(reasons[:5]),
            severity="critical",
            quorum=1,
            reviewer_role=Role.SECURITY_REVIEWER,
            summary={"risk": "loosening", "reasons": reasons[:20], "url": "/policies/canaries/"},
        )
        row.pending_source_text, row.pending_items, row.pending_reasons = text, items, reasons
        row.pending_approval_ref, row.pending_by = approval.public_id, actor
        row.save()
        record_audit(
            tenant=tenant,
            actor=actor,
            action="policy.canaries.request",
            obj=row,
            object_id=str(row.pk),
            after={"reasons": reasons, "approval": approval.public_id},
        )
    return row


def _pending_row(approval) -> TenantCanaries:
    row = TenantCanaries.objects.select_for_update().filter(tenant=approval.tenant).first()
    if row is None or row.pending_approval_ref != approval.public_id:
        raise ValidationError({"canaries": "This canary change is no longer pending."})
    return row


def canary_change_on_approval(*, approval, actor: User) -> None:
    row = _pending_row(approval)
    _apply(
        row,
        text=row.pending_source_text,
        items=row.pending_items,
        actor=actor,
        approval_ref=approval.public_id,
    )


def canary_change_on_denial(*, approval, actor: User) -> None:
    row = _pending_row(approval)
    reasons = row.pending_reasons
    _clear_pending(row)
    row.save()
    record_audit(
        tenant=row.tenant,
        actor=actor,
        action="policy.canaries.refused",
        obj=row,
        object_id=str(row.pk),
        after={"reasons": reasons, "approval": approval.public_id},
    )
