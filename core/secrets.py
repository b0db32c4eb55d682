"""Secrets at rest (IdP client secrets, connector credentials): Fernet tokens under rotating keys.

Keys come from CAVRA_SECRET_KEYS, a comma-separated list of Fernet keys (url-safe base64 of 32
bytes), newest first: the first encrypts, every one decrypts, so a key is rotated by putting the new
one in front, re-encrypting (`secret_rotate`) and later dropping the old one. Without the setting
(the demo, tests) one key is derived from SECRET_KEY, so a leaked database alone does not reveal
the secrets, but production should set its own keys."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretUnreadable(Exception):
    """A stored secret that none of the configured keys decrypts (a key was dropped too early)."""


def _derived_key() -> bytes:
    digest = hashlib.sha256(b"cavra-secrets-v1:" + settings.SECRET_KEY.encode()).digest()
    return base64.urlsafe_b64encode(digest)


def _keys() -> list[bytes]:
    configured = getattr(settings, "CAVRA_SECRET_KEYS", None) or []
    if isinstance(configured, str):
        configured = configured.split(",")
    keys = [k.strip().encode() for k in configured if k and k.strip()]
    return keys or [_derived_key()]


def _fernet() -> MultiFernet:
    try:
        return MultiFernet([Fernet(key) for key in _keys()])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "CAVRA_SECRET_KEYS: each key must be url-safe base64 of 32 bytes "
            "(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')."
        ) from exc


def secret_encrypt(plaintext: str) -> str:
    """The Fernet token for `plaintext` under the newest key; empty stays empty (no secret set)."""
    if not plaintext:
        return ""
    return _fernet().encrypt(plaintext.encode()).decode()


def secret_decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("No configured key in CAVRA_SECRET_KEYS decrypts this secret.") from exc


def secret_rotate(token: str) -> str:
    """Re-encrypt under the newest key (after a new key was put first in CAVRA_SECRET_KEYS)."""
    if not token:
        return ""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("No configured key in CAVRA_SECRET_KEYS decrypts this secret.") from exc
