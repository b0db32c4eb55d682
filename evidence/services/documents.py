"""Signed JSON documents (readiness packets, report manifests): one signer with the tenant's evidence key.

The signature is Ed25519 over the RFC 8785 canonical JSON of the document without its `signature`
member, by the key named in `key_id`; anyone holding the tenant's trust root verifies it offline
(docs/evidence-format.md §4 for the trust root, docs/reports.md for a worked verification).
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cavra_engine.evidence.bundle import key_id_for, public_key_raw
from cavra_engine.evidence.canonical import canonicalize
from evidence.services.checkpoints import signing_key_current
from evidence.signing import decrypt_private_key
from tenants.models import Tenant


def document_sign(*, tenant: Tenant, body: dict) -> dict:
    """`body` plus `key_id` and `signature` (hex), signed with the tenant's current evidence key."""
    key = signing_key_current(tenant)
    private = decrypt_private_key(key.private_key_encrypted, key_id=key.key_id)
    signed = {**body, "key_id": key_id_for(public_key_raw(private.public_key()))}
    return {**signed, "signature": private.sign(canonicalize(signed)).hex()}


def document_verify(document: dict, trust_root: dict) -> str | None:
    """None when the document's signature verifies with a key of the trust root, else the reason."""
    key = next((k for k in trust_root.get("keys", []) if k.get("key_id") == document.get("key_id")), None)
    if key is None:
        return "signed by a key that is not in the trust root"
    body = {k: v for k, v in document.items() if k != "signature"}
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(key["public_key"])).verify(
            bytes.fromhex(str(document.get("signature", ""))), canonicalize(body)
        )
    except Exception:  # noqa: BLE001 - any failure to verify is the same answer
        return "signature does not verify"
    return None
