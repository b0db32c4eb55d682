"""A vendor signing key trusted by the portal for the test, and licences issued with it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.utils import timezone

from licensing import selectors
from licensing.licence_file import licence_dumps, licence_issue, public_key_raw

# The decision path's fixtures (a rolled-out pack, an agent and its token), for the never-decides test.
from tests.policies.conftest import agent, agent_client, policy_version, rolled_out, token  # noqa: F401


@pytest.fixture(autouse=True)
def _fresh_parse_cache():
    selectors._parsed.clear()
    yield
    selectors._parsed.clear()


@pytest.fixture
def vendor_key(settings) -> Ed25519PrivateKey:
    """A vendor key the portal trusts (CAVRA_LICENSE_PUBLIC_KEYS), besides the built-in one."""
    key = Ed25519PrivateKey.generate()
    settings.CAVRA_LICENSE_PUBLIC_KEYS = [public_key_raw(key.public_key()).hex()]
    return key


@pytest.fixture
def issue(vendor_key):
    """issue(edition="business", seats=50, days=365, suspended=False, key=vendor_key, **fields) -> file text."""

    def make(edition="business", *, seats=50, days=365, issued_days_ago=10, key=None, **fields) -> str:
        today = timezone.now().date()
        expires = today + timedelta(days=days)
        document = licence_issue(
            private_key=key or vendor_key,
            licence_id=fields.pop("licence_id", "lic_test0001"),
            licensee=fields.pop("licensee", "Acme Corp"),
            edition=edition,
            seats=seats,
            issued_at=min(today - timedelta(days=issued_days_ago), expires - timedelta(days=30)),
            expires_at=expires,
            **fields,
        )
        return licence_dumps(document)

    return make


@pytest.fixture
def licence_file(tmp_path, settings):
    """licence_file(text) -> installs `text` as CAVRA_LICENSE_FILE and returns its path."""

    def install(text: str | bytes):
        path = tmp_path / "licence.json"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        settings.CAVRA_LICENSE_FILE = str(path)
        return path

    return install
