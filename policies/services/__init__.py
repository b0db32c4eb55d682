"""Writes for policy packs, versions, repositories, environments and rollouts; each audited into evidence."""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from cavra_engine.policy import PolicyError, compile_pack, load_bundled_pack, load_pack_text, run_pack_tests
from core.authz import authorize_actor
from policies.models import PolicyPack, PolicyVersion, Rollout, RolloutChange
from policies.services.scopes import environment_ensure as environment_ensure  # used from here too
from policies.services.scopes import repository_ensure as repository_ensure
from policies.services.scopes import tenant_policy_changed as tenant_policy_changed
from policies.services.versions import policy_publish_record, policy_version_store
from tenants.audit import record_audit
from tenants.models import Tenant, User

MAX_PACK_BYTES = 512 * 1024


def _policy_error_messages(exc: PolicyError) -> list[str]:
    messages = []
    for error in getattr(exc, "errors", None) or []:
        where = f"line {error.get('line')}" if error.get("line") else ""
        path = error.get("path") or ""
        prefix = ", ".join(p for p in (where, path) if p)
        messages.append(f"{prefix}: {error.get('message')}" if prefix else str(error.get("message")))
    return messages or [str(exc)]


def _store_version(*, tenant: Tenant, pack_obj, text: str, source: str, actor: User | None) -> PolicyVersion:
    compiled = compile_pack(pack_obj)
    failures = [r for r in run_pack_tests(compiled) if not r.passed]
    if failures:
        raise ValidationError(
            {
                "source": [
                    f"Embedded test {f.name or f.index} fails: expected {f.expected_decision}"
                    f"{' by ' + f.expected_rule if f.expected_rule else ''}, got {f.actual.decision}"
                    f"{' by ' + f.actual.rule_id if f.actual.rule_id else ''}."
                    for f in failures[:10]
                ]
            }
        )
    with transaction.atomic():
        pack, created = PolicyPack.objects.get_or_create(
            tenant=tenant,
            pack_id=compiled.pack_id,
            defaults={"title": compiled.title or compiled.pack_id, "source": source},
        )
        if not created and pack.source != source:
            raise ValidationError(
                {
                    "source": f"Pack id {compiled.pack_id!r} is already used by a {pack.get_source_display().lower()} pack."
                }
            )
        version, new = policy_version_store(
            tenant=tenant, pack=pack, compiled=compiled, text=text, created_by=actor
        )
        if new:
            policy_publish_record(version=version, actor=actor, source=source)
    return version


def policy_pack_upload(*, tenant: Tenant, text: str, actor: User | None) -> PolicyVersion:
    """Validate, compile and test an uploaded pack; store it as an immutable version (same digest: reused)."""
    authorize_actor(actor, tenant, "policies.publish")
    if not text or not text.strip():
        raise ValidationError({"source": "The pack is empty."})
    if len(text.encode()) > MAX_PACK_BYTES:
        raise ValidationError({"source": f"The pack is larger than {MAX_PACK_BYTES // 1024} KiB."})
    try:
        pack = load_pack_text(text, source_name="upload.yaml")
    except PolicyError as exc:
        raise ValidationError({"source": _policy_error_messages(exc)})
    return _store_version(
        tenant=tenant, pack_obj=pack, text=text, source=PolicyPack.Source.UPLOADED, actor=actor
    )


def policy_pack_install_bundled(*, tenant: Tenant, pack_id: str, actor: User | None) -> PolicyVersion:
    authorize_actor(actor, tenant, "policies.publish")
    try:
        pack = load_bundled_pack(pack_id)
    except PolicyError as exc:
        raise ValidationError({"pack_id": _policy_error_messages(exc)})
    except (FileNotFoundError, KeyError, LookupError):
        raise ValidationError({"pack_id": f"There is no bundled pack {pack_id!r}."})
    text = Path(pack.source).read_text(encoding="utf-8")
    return _store_version(
        tenant=tenant, pack_obj=pack, text=text, source=PolicyPack.Source.BUNDLED, actor=actor
    )


def _rollout_snapshot(rollout: Rollout | None) -> dict | None:
    if rollout is None:
        return None
    return {
        "rollout": rollout.public_id,
        "pack": rollout.version.pack.pack_id,
        "version": rollout.version.version,
        "digest": rollout.version.digest,
        "mode": rollout.mode,
    }


def _rollout_change_record(
    *, rollout: Rollout, before: dict | None, actor: User | None, removed: bool = False
) -> dict | None:
    """The RolloutChange row of a change to `rollout` (inside its transaction); the after-snapshot."""
    after = None if removed else _rollout_snapshot(rollout)
    RolloutChange.objects.create(
        tenant=rollout.tenant,
        rollout_public_id=rollout.public_id,
        scope=rollout.scope_label,
        before=before,
        after=after,
        actor=actor,
    )
    tenant_policy_changed(tenant=rollout.tenant)
    return after


def _authorize_rollout_change(actor, tenant: Tenant, approval) -> None:
    if approval is None:
        authorize_actor(actor, tenant, "policies.manage_rollouts")
    elif approval.tenant_id != tenant.pk or approval.status != approval.Status.APPROVED:
        raise ValidationError({"approval": "The change is not approved in this tenant."})


def rollout_set(
    *,
    tenant: Tenant,
    version: PolicyVersion,
    mode: str,
    actor: User | None,
    repository: str | None = None,
    environment: str | None = None,
    approval=None,
) -> Rollout:
    """Apply a version to a scope (replacing what was there); the change is recorded and audited.

    `approval` is the approved request that authorizes a reviewed change: its approver is the actor
    and need not manage rollouts themselves.
    """
    _authorize_rollout_change(actor, tenant, approval)
    if version.tenant_id != tenant.pk:
        raise ValidationError({"version": "No such policy version in this tenant."})
    if mode not in Rollout.Mode.values:
        raise ValidationError({"mode": f"Mode must be one of: {', '.join(Rollout.Mode.values)}."})
    repo = repository_ensure(tenant=tenant, name=repository, actor=actor) if repository else None
    env = environment_ensure(tenant=tenant, name=environment, actor=actor) if environment else None
    with transaction.atomic():
        rollout = (
            Rollout.objects.select_for_update(of=("self",))
            .select_related("version__pack")
            .filter(tenant=tenant, repository=repo, environment=env)
            .order_by("pk")
            .first()
        )
        before = _rollout_snapshot(rollout)
        try:
            with transaction.atomic():
                if rollout is None:
                    rollout = Rollout.objects.create(
                        tenant=tenant,
                        version=version,
                        repository=repo,
                        environment=env,
                        mode=mode,
                        updated_by=actor,
                    )
                else:
                    rollout.version, rollout.mode = version, mode
                    rollout.updated_by, rollout.updated_at = actor, timezone.now()
                    rollout.save(update_fields=["version", "mode", "updated_by", "updated_at"])
        except IntegrityError:
            raise ValidationError(
                {"scope": "Another change to this scope's rollout happened at the same time; retry."}
            )
        after = _rollout_change_record(rollout=rollout, before=before, actor=actor)
        record_audit(
            tenant=tenant,
            actor=actor,
            action="rollout.change",
            obj=rollout,
            object_id=rollout.public_id,
            object_repr=rollout.scope_label,
            before=before,
            after=after,
        )
    return rollout


def rollout_remove(*, rollout: Rollout, actor: User | None, approval=None) -> None:
    _authorize_rollout_change(actor, rollout.tenant, approval)
    with transaction.atomic():
        before = _rollout_snapshot(rollout)
        _rollout_change_record(rollout=rollout, before=before, actor=actor, removed=True)
        record_audit(
            tenant=rollout.tenant,
            actor=actor,
            action="rollout.remove",
            obj=rollout,
            object_id=rollout.public_id,
            object_repr=rollout.scope_label,
            before=before,
        )
        rollout.delete()
