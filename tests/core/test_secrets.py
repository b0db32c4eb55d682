"""Secrets at rest: MultiFernet with keys from the environment, rotation re-encrypts, errors are clear."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from core import secrets
from core.secrets import SecretUnreadable, secret_decrypt, secret_encrypt


def test_round_trip_and_the_token_hides_the_value():
    token = secret_encrypt("hec-token-123")
    assert "hec-token-123" not in token and secret_decrypt(token) == "hec-token-123"


def test_old_key_still_decrypts_and_a_removed_key_is_a_clear_error(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.CAVRA_SECRET_KEYS = [old]
    token = secret_encrypt("v")
    settings.CAVRA_SECRET_KEYS = [new, old]
    assert secret_decrypt(token) == "v"
    settings.CAVRA_SECRET_KEYS = [new]
    with pytest.raises(SecretUnreadable, match="CAVRA_SECRET_KEYS"):
        secret_decrypt(token)


def test_production_without_keys_refuses_and_a_bad_key_is_named(settings):
    settings.CAVRA_SECRET_KEYS, settings.DEBUG, settings.DEMO = [], False, False
    with pytest.raises(ImproperlyConfigured, match="CAVRA_SECRET_KEYS must be set"):
        secret_encrypt("v")
    settings.CAVRA_SECRET_KEYS = ["not-a-key"]
    with pytest.raises(ImproperlyConfigured, match="not a Fernet key"):
        secret_encrypt("v")


@pytest.mark.django_db
def test_rotation_command_re_encrypts_registered_fields(settings, monkeypatch, acme):
    from core.models import OutboxMessage

    # any text column works; the outbox's last_error stands in for a secret column here
    monkeypatch.setattr(secrets, "_registered_fields", [("core.OutboxMessage", "last_error")])
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.CAVRA_SECRET_KEYS = [old]
    row = OutboxMessage.objects.create(
        tenant=acme, kind="x.y", idempotency_key="rot", last_error=secret_encrypt("s")
    )
    settings.CAVRA_SECRET_KEYS = [new, old]
    call_command("rotate_secret_keys")
    settings.CAVRA_SECRET_KEYS = [new]
    row.refresh_from_db()
    assert secret_decrypt(row.last_error) == "s"
