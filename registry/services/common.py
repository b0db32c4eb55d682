"""Shared pieces of the registry's writes: token hashing, tool digests and field validation."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from core.audit import model_snapshot
from registry.profiles import ACTION_TYPES
from tenants.audit import record_audit
from tenants.models import Membership, Tenant, User

TOKEN_PREFIX = "cvr_"
TOKEN_VISIBLE_CHARS = 12
MAX_LIST_ITEMS = 200
MAX_TOOL_DESCRIPTION = 20_000
MAX_TOOL_SCHEMA_BYTES = 64 * 1024


# ---------------------------------------------------------------- helpers


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def tool_digest(*, description: str, input_schema: dict) -> str:
    """SHA-256 of the canonical JSON of {description, input_schema} (sorted keys, no spaces)."""
    canonical = json.dumps(
        {"description": description, "input_schema": input_schema},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _validate(validator, value: str, field: str) -> str:
    try:
        validator(value)
    except ValidationError as exc:
        raise ValidationError({field: exc.messages})
    return value


def _choice(value, choices, field: str, what: str) -> str:
    value = str(value or "").strip()
    valid = [c[0] if isinstance(c, tuple) else c for c in choices]
    if value not in valid:
        raise ValidationError({field: f"Unknown {what} {value!r}. Valid: {', '.join(valid)}."})
    return value


def _string_list(value, field: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = value.splitlines()
    if not isinstance(value, (list, tuple)):
        raise ValidationError({field: "Give a list of strings."})
    out: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise ValidationError({field: "Every entry must be a string."})
        item = item.strip()
        if not item:
            continue
        if len(item) > 200:
            raise ValidationError({field: f"Entry {item[:40]!r}… is longer than 200 characters."})
        if item not in out:
            out.append(item)
    if len(out) > MAX_LIST_ITEMS:
        raise ValidationError({field: f"At most {MAX_LIST_ITEMS} entries."})
    return out


def _repositories(value) -> list[str]:
    repos = _string_list(value, "allowed_repositories")
    for repo in repos:
        if " " in repo or "/" not in repo:
            raise ValidationError(
                {"allowed_repositories": f"{repo!r} is not a repository glob like owner/name or acme/*."}
            )
    return repos


def _actions(value) -> list[str]:
    actions = _string_list(value, "allowed_actions")
    unknown = [a for a in actions if a not in ACTION_TYPES]
    if unknown:
        raise ValidationError(
            {
                "allowed_actions": f"Unknown action type(s): {', '.join(unknown)}. Valid: {', '.join(ACTION_TYPES)}."
            }
        )
    return [a for a in ACTION_TYPES if a in actions]


def _mcp_tool_globs(value) -> list[str]:
    globs = _string_list(value, "allowed_mcp_tools")
    for g in globs:
        if g != "*" and ":" not in g:
            raise ValidationError({"allowed_mcp_tools": f"{g!r} is not a server:tool glob (e.g. github:*)."})
    return globs


def _member_or_none(tenant: Tenant, user: User | None, field: str) -> User | None:
    if user is None:
        return None
    if not Membership.objects.filter(tenant=tenant, user=user).exists():
        raise ValidationError({field: f"{user.email} is not a member of {tenant.name}."})
    return user


def _actor(actor) -> User | None:
    # An agent principal is never a User row: the audit trail records it as "system".
    return actor if isinstance(actor, User) else None


def _settable_only(changes: dict, settable: tuple[str, ...]) -> None:
    unknown = sorted(set(changes) - set(settable))
    if unknown:
        raise ValidationError({unknown[0]: "This field cannot be set."})


def _unique_in_tenant(
    model, tenant: Tenant, instance, *, field: str, value: str, message: str, lookup="exact"
):
    """Refuse `value` when another row of the tenant already has it (a clear message, before the constraint)."""
    clash = model.objects.filter(tenant=tenant, **{f"{field}__{lookup}": value})
    if instance is not None:
        clash = clash.exclude(pk=instance.pk)
    if clash.exists():
        raise ValidationError({field: message})


def _create_audited(model, tenant: Tenant, fields: dict, *, actor, action: str, clash: dict, **extra):
    """Create the row from cleaned `fields` and audit it; a unique constraint becomes the `clash` field error."""
    try:
        with transaction.atomic():
            row = model.objects.create(tenant=tenant, **fields, **extra)
            record_audit(
                tenant=tenant, actor=_actor(actor), action=action, obj=row, after=model_snapshot(row)
            )
    except IntegrityError:
        raise ValidationError(clash)
    return row


def _update_audited(
    instance: models.Model,
    fields: dict,
    *,
    actor,
    action: str | Callable[[list[str], models.Model], str],
    clash: dict,
    check: Callable[[models.Model], None] | None = None,
    after_save: Callable[[models.Model, list[str]], None] | None = None,
):
    """Apply cleaned `fields` to the locked row and audit the change (nothing changed: nothing written).

    `check` runs on the locked row before anything changes; `after_save` inside the same transaction;
    `action` may depend on the changed fields; `clash` is the field error a unique constraint becomes.
    """
    with transaction.atomic():
        current = type(instance).objects.select_for_update().get(pk=instance.pk)
        if check is not None:
            check(current)
        before = model_snapshot(current)
        changed = [k for k, v in fields.items() if getattr(current, k) != v]
        if not changed:
            return current
        for key in changed:
            setattr(current, key, fields[key])
        current.updated_at = timezone.now()
        try:
            with transaction.atomic():
                current.save(update_fields=[*changed, "updated_at"])
        except IntegrityError:
            raise ValidationError(clash)
        if after_save is not None:
            after_save(current, changed)
        record_audit(
            tenant=current.tenant,
            actor=_actor(actor),
            action=action(changed, current) if callable(action) else action,
            obj=current,
            before=before,
            after=model_snapshot(current),
        )
    return current
