"""Production defaults are safe; the demo needs nothing; demo data is idempotent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.roles import ALL_ROLES
from tenants.demo import DEMO_PASSWORD, seed_foundation
from tenants.models import Membership, Tenant, User

ROOT = Path(__file__).resolve().parents[2]


def _settings_in_subprocess(env: dict, expr: str) -> str:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("CAVRA_", "SECRET_", "DEBUG", "SECURE_", "ALLOWED_", "SESSION_", "CSRF_", "DATABASE_", "EMAIL_")
        )
    }
    clean.update(env, DJANGO_SETTINGS_MODULE="cavra_portal.settings")
    code = f"import django; from django.conf import settings; django.setup(); print(repr(({expr},)))"
    result = subprocess.run(
        [sys.executable, "-c", code], env=clean, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    return result.stdout.strip() + result.stderr[-500:]


def test_production_defaults_are_strict():
    out = _settings_in_subprocess(
        {"SECRET_KEY": "x" * 50},
        "settings.DEBUG, settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE, settings.SECURE_HSTS_SECONDS, settings.ALLOWED_HOSTS, settings.SECURE_SSL_REDIRECT",
    )
    assert out.startswith("(False, True, True, 31536000, [], True)"), out


def test_production_refuses_to_start_without_secret_key():
    assert "SECRET_KEY must be set" in _settings_in_subprocess({}, "1")


def test_demo_defaults_need_nothing():
    out = _settings_in_subprocess(
        {"CAVRA_DEMO": "1"},
        "settings.DATABASES['default']['ENGINE'], settings.CELERY_TASK_ALWAYS_EAGER, settings.EMAIL_BACKEND",
    )
    assert out.startswith(
        "('django.db.backends.sqlite3', True, 'django.core.mail.backends.console.EmailBackend')"
    ), out


@pytest.mark.django_db
def test_demo_seed_is_idempotent_and_complete():
    seed_foundation()
    counts = (Tenant.objects.count(), User.objects.count(), Membership.objects.count())
    seed_foundation()
    assert (Tenant.objects.count(), User.objects.count(), Membership.objects.count()) == counts
    for slug in ("acme", "globex"):
        for role in ALL_ROLES:
            user = User.objects.get(email=f"{role}@{slug}.test")
            assert user.check_password(DEMO_PASSWORD)
            assert Membership.objects.get(tenant__slug=slug, user=user).roles == [role]
    both = User.objects.get(email="auditor@both.test")
    assert sorted(m.tenant.slug for m in both.memberships.all()) == ["acme", "globex"]
