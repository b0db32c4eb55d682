"""Signed policy versions: `policy.yaml.sig.json`, made by the portal and verified offline against a trust root."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cavra_engine.evidence.canonical import canonicalize

from .compiled import compile_pack
from .errors import PolicyError
from .loader import load_pack_text

FORMAT = "cavra-policy-signature/v1"
SIGNED_FIELDS = (
    "format",
    "tenant",
    "pack",
    "version",
    "digest",
    "source_sha256",
    "signed_at",
    "key_id",
    "plan",
)


def signed_payload(document: dict) -> bytes:
    """The exact bytes the signature covers: RFC 8785 canonical JSON of the signed fields."""
    return canonicalize({key: document.get(key) for key in SIGNED_FIELDS})


def sign_policy(
    *,
    private_key: Ed25519PrivateKey,
    key_id: str,
    tenant: str,
    pack: str,
    version: str,
    digest: str,
    source_text: str,
    signed_at: str,
    plan: str | None = None,
) -> dict:
    document = {
        "format": FORMAT,
        "tenant": tenant,
        "pack": pack,
        "version": version,
        "digest": digest,
        "source_sha256": hashlib.sha256(source_text.encode("utf-8")).hexdigest(),
        "signed_at": signed_at,
        "key_id": key_id,
        "plan": plan,
    }
    document["algorithm"] = "Ed25519"
    document["signature"] = base64.b64encode(private_key.sign(signed_payload(document))).decode("ascii")
    return document


@dataclass
class VerifyResult:
    ok: bool
    problems: list[str]
    document: dict

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "problems": self.problems,
            "pack": self.document.get("pack"),
            "version": self.document.get("version"),
            "digest": self.document.get("digest"),
            "key_id": self.document.get("key_id"),
        }


def trusted_keys(trust_root: dict) -> dict[str, str]:
    """key_id -> raw public key hex, from a trust root {"keys": [{"key_id", "public_key"}]} (portal download)."""
    keys = trust_root.get("keys") if isinstance(trust_root, dict) else None
    if not isinstance(keys, list):
        raise ValueError("the trust root must be a JSON object with a 'keys' list")
    out = {}
    for entry in keys:
        if (
            isinstance(entry, dict)
            and isinstance(entry.get("key_id"), str)
            and isinstance(entry.get("public_key"), str)
        ):
            out[entry["key_id"]] = entry["public_key"]
    return out


def verify_policy(*, source_text: str, signature: dict, trust_root: dict) -> VerifyResult:
    """Check the file against its signature document and the trust root; every problem is named."""
    problems: list[str] = []
    if not isinstance(signature, dict) or signature.get("format") != FORMAT:
        return VerifyResult(
            False, [f"signature: not a {FORMAT} document"], signature if isinstance(signature, dict) else {}
        )
    try:
        keys = trusted_keys(trust_root)
    except ValueError as exc:
        return VerifyResult(False, [f"trust root: {exc}"], signature)
    if hashlib.sha256(source_text.encode("utf-8")).hexdigest() != signature.get("source_sha256"):
        problems.append("source_sha256: the policy file is not the one that was signed")
    try:
        compiled = compile_pack(load_pack_text(source_text, source_name="policy.yaml"))
        if compiled.digest != signature.get("digest"):
            problems.append(
                f"digest: the file compiles to {compiled.digest}, the signature says {signature.get('digest')}"
            )
    except PolicyError as exc:
        problems.append(f"policy.yaml: does not compile: {exc}")
    public_hex = keys.get(signature.get("key_id") or "")
    if public_hex is None:
        problems.append(f"key_id: {signature.get('key_id')!r} is not in the trust root")
    else:
        try:
            Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex)).verify(
                base64.b64decode(signature.get("signature") or ""), signed_payload(signature)
            )
        except (InvalidSignature, ValueError):
            problems.append("signature: does not verify with the trusted key")
    return VerifyResult(not problems, problems, signature)


def load_json_file(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)
