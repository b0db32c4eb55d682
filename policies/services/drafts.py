"""Policy drafts: open one from a version, a bundled pack or a blank pack; save (autosave) with validation."""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from cavra_engine.policy import CompiledPolicy, PolicyError, compile_pack, load_bundled_pack, load_pack_text
from core.authz import authorize_actor
from policies.models import PolicyDraft, PolicyVersion
from tenants.audit import record_audit
from tenants.models import Tenant, User

MAX_DRAFT_BYTES = 512 * 1024
NEW_PACK_TEMPLATE = """\
apiVersion: cavra.policy/v2
metadata:
  id: my-pack
  title: My pack
  version: 1.0.0
  description: What this pack is for.
extends: [compliance-overlay]
defaults:
  any: allow
rules: []
tests: []
"""


def tenant_parent_sources(*, tenant: Tenant | None, exclude: str = "") -> dict[str, str]:
    """The latest source of each of the tenant's packs, so a draft may extend/inherit them (besides bundled ones)."""
    if tenant is None:
        return {}
    sources: dict[str, str] = {}
    rows = (
        PolicyVersion.objects.filter(tenant=tenant)
        .order_by("pack__pack_id", "-created_at", "-id")
        .values_list("pack__pack_id", "source_text")
    )
    for pack_id, text in rows:
        if pack_id != exclude and pack_id not in sources:
            sources[pack_id] = text
    return sources


def draft_validate(text: str, *, tenant: Tenant | None = None) -> tuple[CompiledPolicy | None, list[dict]]:
    """Compile a draft's source; errors carry `line`, `path` and `message` so an editor can point at them."""
    if not isinstance(text, str) or not text.strip():
        return None, [{"line": None, "path": "", "message": "The pack is empty."}]
    if len(text.encode("utf-8")) > MAX_DRAFT_BYTES:
        return None, [
            {"line": None, "path": "", "message": f"The pack is larger than {MAX_DRAFT_BYTES // 1024} KiB."}
        ]
    try:
        parents = tenant_parent_sources(tenant=tenant)
        return compile_pack(load_pack_text(text, source_name="policy.yaml", parent_sources=parents)), []
    except PolicyError as exc:
        return None, [
            {"line": e.get("line"), "path": e.get("path") or "", "message": str(e.get("message"))}
            for e in exc.errors
        ]


def _save(draft: PolicyDraft, text: str, actor: User | None) -> PolicyDraft:
    compiled, errors = draft_validate(text, tenant=draft.tenant)
    draft.source_text = text
    draft.errors = errors
    draft.digest = compiled.digest if compiled else ""
    draft.pack_id = compiled.pack_id if compiled else draft.pack_id
    draft.updated_at = timezone.now()
    draft.updated_by = actor
    return draft


def policy_draft_create(
    *,
    tenant: Tenant,
    actor: User | None,
    base_version: PolicyVersion | None = None,
    bundled_pack: str | None = None,
    source_text: str | None = None,
) -> PolicyDraft:
    """A draft from a version of this tenant, a bundled pack, given source (upload) or the blank template."""
    authorize_actor(actor, tenant, "policies.publish")
    if base_version is not None and base_version.tenant_id != tenant.pk:
        raise ValidationError({"version": "No such policy version in this tenant."})
    if source_text is not None:
        text = source_text
    elif base_version is not None:
        text = base_version.source_text
    elif bundled_pack:
        try:
            text = Path(load_bundled_pack(bundled_pack).source).read_text(encoding="utf-8")
        except (PolicyError, FileNotFoundError, KeyError, LookupError):
            raise ValidationError({"pack": f"There is no bundled pack {bundled_pack!r}."})
    else:
        text = NEW_PACK_TEMPLATE
    if not isinstance(text, str) or not text.strip():
        raise ValidationError({"source": "The pack is empty."})
    if len(text.encode("utf-8")) > MAX_DRAFT_BYTES:
        raise ValidationError({"source": f"The pack is larger than {MAX_DRAFT_BYTES // 1024} KiB."})
    with transaction.atomic():
        draft = PolicyDraft(tenant=tenant, base_version=base_version, author=actor)
        _save(draft, text, actor)
        draft.save()
        record_audit(
            tenant=tenant,
            actor=actor,
            action="policy.draft.create",
            obj=draft,
            object_id=draft.public_id,
            after={
                "pack": draft.pack_id or None,
                "digest": draft.digest or None,
                "from_version": base_version.public_id if base_version else None,
                "from_bundled": bundled_pack or None,
            },
        )
    return draft


def policy_draft_update(*, draft: PolicyDraft, actor: User | None, source_text: str) -> PolicyDraft:
    """Save the editor's text (kept even when invalid, with its errors); a published draft is read-only."""
    authorize_actor(actor, draft.tenant, "policies.publish")
    if not isinstance(source_text, str):
        raise ValidationError({"source": "The pack source must be text."})
    if len(source_text.encode("utf-8")) > MAX_DRAFT_BYTES:
        raise ValidationError({"source": f"The pack is larger than {MAX_DRAFT_BYTES // 1024} KiB."})
    with transaction.atomic():
        locked = PolicyDraft.objects.select_for_update().get(pk=draft.pk)
        if locked.status == PolicyDraft.Status.PUBLISHED:
            raise ValidationError({"source": "This draft was published; open a new draft from its version."})
        _save(locked, source_text, actor)
        locked.save(update_fields=["source_text", "errors", "digest", "pack_id", "updated_at", "updated_by"])
    return locked
