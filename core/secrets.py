"""Secrets at rest (connector tokens, SSO client secrets): MultiFernet with keys from the environment.

`CAVRA_SECRET_KEYS` is a comma-separated list of Fernet keys; the first encrypts, all of them decrypt.
Rotation without downtime: put a new key first and keep the old ones after it, deploy, run
`manage.py rotate_secret_keys` (re-encrypts every registered field with the first key), then drop the
old keys. Without the variable, demo and DEBUG derive one key from SECRET_KEY; production refuses.
Values are stored as Fernet tokens in text columns; no API or page ever returns them.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction


class SecretUnreadable(Exception):
    """No configured key decrypts this value (a key was removed before rotation finished)."""


_registered_fields: list[tuple[str, str]] = []


def _keys() -> list[bytes]:
    configured = [k.strip() for k in getattr(settings, "CAVRA_SECRET_KEYS", []) if k and k.strip()]
    if configured:
        return [k.encode() for k in configured]
    if settings.DEBUG or getattr(settings, "DEMO", False):
        digest = hashlib.sha256(f"cavra-secrets:{settings.SECRET_KEY}".encode()).digest()
        return [base64.urlsafe_b64encode(digest)]
    raise ImproperlyConfigured(
        "CAVRA_SECRET_KEYS must be set to store secrets (comma-separated Fernet keys)."
    )


def _fernet() -> MultiFernet:
    try:
        return MultiFernet([Fernet(key) for key in _keys()])
    except ValueError as exc:
        raise ImproperlyConfigured(f"CAVRA_SECRET_KEYS holds a key that is not a Fernet key: {exc}") from exc


def secret_encrypt(plaintext: str) -> str:
    """The Fernet token for `plaintext` under the first key; empty stays empty (no secret set)."""
    if not plaintext:
        return ""
    return _fernet().encrypt(plaintext.encode()).decode()


def secret_decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("no configured key (CAVRA_SECRET_KEYS) decrypts this secret") from exc


def register_encrypted_field(model_label: str, field_name: str) -> None:
    """Declare a text field holding `secret_encrypt` tokens, so `rotate_secret_keys` re-encrypts it."""
    if (model_label, field_name) not in _registered_fields:
        _registered_fields.append((model_label, field_name))


def secrets_rotate() -> dict[str, int]:
    """Re-encrypt every registered field with the first key; returns rows re-encrypted per field."""
    fernet = _fernet()
    counts: dict[str, int] = {}
    for model_label, field_name in _registered_fields:
        model = apps.get_model(model_label)
        count = 0
        with transaction.atomic():
            rows = model._base_manager.select_for_update().exclude(**{field_name: ""})
            for pk, token in rows.values_list("pk", field_name):
                try:
                    rotated = fernet.rotate(token.encode()).decode()
                except InvalidToken as exc:
                    raise SecretUnreadable(f"{model_label}.{field_name} pk={pk}: no key decrypts it") from exc
                model._base_manager.filter(pk=pk).update(**{field_name: rotated})
                count += 1
        counts[f"{model_label}.{field_name}"] = count
    return counts
