"""Web hardening, generated from the permission matrix (which walks the whole URLconf) where it can be:
every form POST without a CSRF token is refused, `next=` never leaves the site, every page carries
the Content-Security-Policy, no template has inline script, handlers or style, and the production
settings pass `manage.py check --deploy`.

Another tenant's ids on every detail and action route (404) and every role on every route (only the
allowed ones succeed) are asserted for every URL by tests/test_permission_matrix.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from core.roles import ALL_ROLES
from tests.permission_matrix import all_entries
from tests.test_permission_matrix import Ctx

ROOT = Path(__file__).resolve().parents[2]
# Agent-only endpoints take bearer tokens, never cookies: CSRF does not apply to them.
POSTS = [e for e in all_entries() if e.method != "GET" and not e.public and not e.agent_only]


@pytest.mark.parametrize("entry", POSTS, ids=[e.id for e in POSTS])
def test_every_state_changing_request_without_csrf_is_refused(entry, acme, globex):
    ctx = Ctx(acme, globex)
    client = Client(enforce_csrf_checks=True)
    client.force_login(
        ctx.member(*(entry.roles or ALL_ROLES)), backend="django.contrib.auth.backends.ModelBackend"
    )
    session = client.session
    session["cavra_tenant_id"] = acme.pk
    session.save()
    url = reverse(entry.url_name, kwargs=entry.kwargs(ctx) if entry.kwargs else {}) + entry.query
    data = entry.data(ctx) if callable(entry.data) else (entry.data or {})
    if entry.api or entry.content_type == "application/json":
        response = client.generic(entry.method, url, json.dumps(data), content_type="application/json")
    else:
        response = getattr(client, entry.method.lower())(url, data)
    assert response.status_code == 403, (entry.id, response.status_code)


OFF_SITE = [
    "https://evil.example/",
    "//evil.example/x",
    "https:evil.example",
    "/\\evil.example",
    "javascript:alert(1)",
]


@pytest.mark.parametrize("target", OFF_SITE)
def test_next_never_leaves_the_site(acme, member, client_as, target):
    user = member(acme, "auditor")
    client = client_as(user, acme)
    response = client.post(reverse("tenants:switch"), {"tenant": "acme", "next": target})
    assert response.status_code == 302 and response["Location"] == reverse("home")
    fresh = Client()
    response = fresh.post(f"/accounts/login/?next={target}", {"login": user.email, "password": "pw-test-123"})
    assert response.status_code == 302
    assert not re.match(r"^(https?:)?[/\\]{2}|^[a-z]+:", response["Location"]), response["Location"]


def test_every_page_carries_the_content_security_policy(acme, member, client_as):
    client = client_as(member(acme, *ALL_ROLES), acme)
    # Redoc's page alone allows inline style (its styling needs it; cavra_portal/api/urls.py).
    pages = [
        e for e in all_entries() if e.method == "GET" and not e.api and not e.kwargs and e.url_name != "redoc"
    ]
    assert len(pages) > 5
    for entry in pages:
        response = client.get(reverse(entry.url_name) + entry.query)
        policy = response.get("Content-Security-Policy", "")
        for directive in (
            "default-src 'self'",
            "script-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ):
            assert directive in policy, (entry.id, policy)
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, (entry.id, policy)
    assert "default-src 'self'" in Client().get("/accounts/login/")["Content-Security-Policy"]


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "inline event handler"),
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"<style", re.I), "<style> element"),
    (re.compile(r"hx-(vals|vars|headers)\s*=\s*['\"]\s*js:", re.I), "htmx js: value (eval)"),
    (re.compile(r"hx-trigger\s*=\s*['\"][^'\"]*\[", re.I), "htmx trigger filter (eval)"),
    (re.compile(r"hx-on", re.I), "hx-on handler (eval)"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


def test_no_template_has_inline_script_handlers_or_style():
    found = []
    for path in sorted((ROOT / "templates").rglob("*.html")):
        text = re.sub(r"\{#.*?#\}", "", path.read_text())  # Django comments are never rendered
        for pattern, what in INLINE:
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(ROOT)}:{line}: {what}")
    assert not found, "\n".join(found)


def test_production_settings_pass_check_deploy():
    # A production-like environment: nothing inherited from the test run but where the services are
    # (the browser tests, for one, set DJANGO_ALLOW_ASYNC_UNSAFE in this process).
    env = {
        key: os.environ[key]
        for key in ("PATH", "HOME", "LANG", "DATABASE_URL", "REDIS_URL")
        if key in os.environ
    }
    env.update(
        DJANGO_SETTINGS_MODULE="cavra_portal.settings",
        SECRET_KEY="a-production-like-secret-" + "k" * 40 + "-3f9a8b7c6d5e",
        ALLOWED_HOSTS="cavra.example.com",
        BEHIND_TLS_PROXY="1",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
