"""Settings for the test suite: real PostgreSQL and Redis, plain HTTP, a fixed test-only secret."""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-not-for-production")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("SESSION_COOKIE_SECURE", "0")
os.environ.setdefault("CSRF_COOKIE_SECURE", "0")
os.environ.setdefault("SECURE_HSTS_SECONDS", "0")
# Two test-only Fernet keys (current, previous) so key rotation is exercised.
os.environ.setdefault(
    "CAVRA_SECRET_KEYS",
    "dGVzdHMtb25seS1mZXJuZXQta2V5LTAwMDAwMDAwMDA=,dGVzdHMtb25seS1vbGQtZmVybmV0LWtleS0wMDAwMDA=",
)
# Tests read the chain right after a write; tests of the sequenced path switch to "process" themselves.
os.environ.setdefault("CAVRA_EVIDENCE_SEQUENCER", "inline")
os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")

from cavra_portal.settings import *  # noqa: E402,F403

if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":  # noqa: F405
    raise RuntimeError("The test suite runs on PostgreSQL; set DATABASE_URL to a postgres:// URL.")

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed: tests create many users
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
# Several test runs may share one PostgreSQL server (developers side by side, CI): each run gets its
# own test database. Child processes inherit the run id, so they find the same database.
os.environ.setdefault("CAVRA_TEST_RUN_ID", str(os.getpid()))
DATABASES["default"]["TEST"] = {"NAME": f"test_cavra_{os.environ['CAVRA_TEST_RUN_ID']}"}  # noqa: F405
