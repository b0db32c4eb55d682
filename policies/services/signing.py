"""The tenant's Ed25519 policy-signing key (separate from the evidence key): create, rotate, sign, trust root."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.db import transaction
from django.utils import timezone

from cavra_engine.policy.signature import sign_policy
from core.authz import authorize_actor
from evidence.signing import decrypt_private_key, encrypt_private_key
from policies.models import PolicySigningKey, PolicyVersion, new_policy_key_id
from tenants.audit import record_audit
from tenants.models import Tenant, User


def _new_key(tenant: Tenant) -> PolicySigningKey:
    private = Ed25519PrivateKey.generate()
    key_id = new_policy_key_id()
    return PolicySigningKey.objects.create(
        tenant=tenant,
        key_id=key_id,
        public_key=private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex(),
        private_key_encrypted=encrypt_private_key(private, key_id=key_id),
    )


def policy_signing_key_current(*, tenant: Tenant) -> PolicySigningKey:
    """The key new versions are signed with; created on first use."""
    with transaction.atomic():
        key = (
            PolicySigningKey.objects.select_for_update()
            .filter(tenant=tenant, valid_until__isnull=True)
            .order_by("-valid_from", "-id")
            .first()
        )
        return key or _new_key(tenant)


def policy_signing_key_rotate(*, tenant: Tenant, actor: User | None) -> PolicySigningKey:
    """Retire the current key (it stays in the trust root for versions it signed) and start a new one."""
    authorize_actor(actor, tenant, "policies.manage_signing")
    with transaction.atomic():
        now = timezone.now()
        retired = list(
            PolicySigningKey.objects.select_for_update()
            .filter(tenant=tenant, valid_until__isnull=True)
            .values_list("key_id", flat=True)
        )
        PolicySigningKey.objects.filter(tenant=tenant, valid_until__isnull=True).update(valid_until=now)
        key = _new_key(tenant)
        record_audit(
            tenant=tenant,
            actor=actor,
            action="policy.signing_key.rotate",
            obj=key,
            object_id=key.key_id,
            before={"keys": retired},
            after={"key_id": key.key_id, "public_key": key.public_key},
        )
    return key


def policy_version_sign(*, version: PolicyVersion, plan_ref: str | None) -> dict:
    """policy.yaml.sig.json for a version (call inside the publishing transaction)."""
    key = policy_signing_key_current(tenant=version.tenant)
    private = decrypt_private_key(key.private_key_encrypted, key_id=key.key_id)
    return sign_policy(
        private_key=private,
        key_id=key.key_id,
        tenant=version.tenant.slug,
        pack=version.pack.pack_id,
        version=version.version,
        digest=version.digest,
        source_text=version.source_text,
        signed_at=timezone.now().isoformat().replace("+00:00", "Z"),
        plan=plan_ref,
    )


def policy_trust_root(*, tenant: Tenant) -> dict:
    """Every policy-signing public key of the tenant (current and retired), for `cavra policy verify`."""
    return {
        "format": "cavra-policy-trust-root/v1",
        "tenant": tenant.slug,
        "keys": [
            {
                "key_id": key.key_id,
                "algorithm": "Ed25519",
                "public_key": key.public_key,
                "valid_from": key.valid_from.isoformat().replace("+00:00", "Z"),
                "valid_until": key.valid_until.isoformat().replace("+00:00", "Z")
                if key.valid_until
                else None,
            }
            for key in PolicySigningKey.objects.filter(tenant=tenant).order_by("valid_from", "id")
        ],
    }
