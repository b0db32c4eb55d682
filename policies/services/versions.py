"""The one writer of PolicyVersion rows and of their `policy.publish` evidence (upload, bundled install, plan)."""

from __future__ import annotations

from cavra_engine.policy import CompiledPolicy
from policies.models import PolicyPack, PolicyVersion
from policies.services.signing import policy_version_sign
from tenants.audit import record_audit
from tenants.models import Tenant, User


def policy_version_store(
    *,
    tenant: Tenant,
    pack: PolicyPack,
    compiled: CompiledPolicy,
    text: str,
    created_by: User | None,
    plan_ref: str | None = None,
) -> tuple[PolicyVersion, bool]:
    """The version of `pack` with the compiled digest, created and signed if new; (version, created).

    Call inside the publishing transaction: the signature is set in the same transaction as the row.
    """
    version = PolicyVersion.objects.filter(tenant=tenant, pack=pack, digest=compiled.digest).first()
    created = version is None
    if created:
        version = PolicyVersion.objects.create(
            tenant=tenant,
            pack=pack,
            version=compiled.version or "0",
            digest=compiled.digest,
            source_text=text,
            compiled_json=compiled.to_json(),
            rule_count=len(compiled.rules),
            test_count=len(compiled.tests),
            created_by=created_by,
            plan_ref=plan_ref or "",
        )
    if not version.signature:
        # Bundled (and test-fixture) versions are signed too, so every version verifies offline.
        version.signature = policy_version_sign(version=version, plan_ref=plan_ref)
        version.plan_ref = version.plan_ref or plan_ref or ""
        version.save(update_fields=["signature", "plan_ref"])
    return version, created


def policy_publish_record(*, version: PolicyVersion, actor: User | None, **details) -> None:
    """The `policy.publish` evidence of a version: what every publish path records, plus its own details."""
    record_audit(
        tenant=version.tenant,
        actor=actor,
        action="policy.publish",
        obj=version,
        object_id=version.public_id,
        after={
            "pack": version.pack.pack_id,
            "version": version.version,
            "digest": version.digest,
            **details,
        },
    )
