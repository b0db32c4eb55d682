"""Encryption at rest of tenant signing keys, and loading them for signing."""

from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from django.conf import settings


def _wrapping_key() -> bytes:
    secret = getattr(settings, "EVIDENCE_KEY_ENCRYPTION_KEY", "") or settings.SECRET_KEY
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"cavra-evidence", info=b"signing-key-wrap/v1"
    ).derive(secret.encode("utf-8"))


def encrypt_private_key(key: Ed25519PrivateKey, *, key_id: str) -> str:
    raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    nonce = os.urandom(12)
    # The key id is bound as associated data so a ciphertext cannot be swapped onto another key row.
    sealed = AESGCM(_wrapping_key()).encrypt(nonce, raw, key_id.encode("ascii"))
    return base64.b64encode(nonce + sealed).decode("ascii")


def decrypt_private_key(blob: str, *, key_id: str) -> Ed25519PrivateKey:
    data = base64.b64decode(blob)
    raw = AESGCM(_wrapping_key()).decrypt(data[:12], data[12:], key_id.encode("ascii"))
    return Ed25519PrivateKey.from_private_bytes(raw)
