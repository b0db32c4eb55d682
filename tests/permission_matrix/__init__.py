"""The permission matrix: every URL of the project, and who may reach it.

Each module here (one per app: tenants.py, evidence.py, registry.py, ...) defines `ENTRIES`, a list
of `Entry`. tests/test_permission_matrix.py fails when a named URL pattern exists that no entry
(and no COVERED_ELSEWHERE prefix) declares, and for every entry checks:

- anonymous            -> login redirect (pages) or 401/403 problem (API)
- member of another tenant, holding every role -> 404 when the URL names an object (`kwargs`),
  since another tenant's object must be exactly as absent as a missing one
- member of the tenant holding every role except the allowed ones -> 403
- member holding each allowed role -> one of `ok` (2xx, or 302 for a form POST)

`setup(ctx)` creates what the URL reads before any request (e.g. a verification run), so `ok` is the
one status a page answers when its data exists, never "200 or 404".
`kwargs(ctx)` builds the URL kwargs by creating an object in `ctx.tenant` (ctx has tenant, user
factory `ctx.member(*roles)`, and `ctx.other` the other tenant); it is called again for every
request so destructive POSTs get a fresh object. `data(ctx)` builds a POST body.
`roles=()` means any member with any role. `public=True` means no login needed at all.
`agent_only=True` marks an endpoint for agent tokens: anonymous gets 401/403 and a member holding
every role 403 (its agent-token behaviour is tested beside the feature).
`platform_only=True` marks a platform endpoint: anonymous 401/403, a member holding every role 403, a
superuser one of `ok` (its token access is tested beside the feature).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from pkgutil import iter_modules
from typing import Any


@dataclass(frozen=True)
class Entry:
    url_name: str
    roles: tuple[str, ...] = ()
    method: str = "GET"
    setup: Callable[[Any], None] | None = None
    kwargs: Callable[[Any], dict] | None = None
    data: Callable[[Any], dict] | dict | None = None
    ok: tuple[int, ...] = (200,)
    api: bool = False
    public: bool = False
    agent_only: bool = False  # for agents' tokens: anonymous 401/403, every human member 403
    platform_only: bool = False  # platform superusers only: anonymous 401/403, every tenant member 403
    query: str = ""
    content_type: str | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.method} {self.url_name}"


# URL namespaces/names whose access rules are tested elsewhere (third-party screens with their own tests).
COVERED_ELSEWHERE: dict[str, str] = {
    "admin:": "tests/tenants/test_admin.py (tenant-scoped changelists, change forms, FK choices)",
    "account_": "allauth sign-in pages: public by design",
    "socialaccount_": "allauth SSO pages: public by design",
    "openid_connect_": "allauth OIDC callbacks: public by design",
    "saml_": "allauth SAML login, ACS, metadata, SLS: public by design (tests/tenants/test_saml.py)",
    "mfa_": "allauth MFA pages",
    "usersessions_": "allauth session pages",
    "headless:": "allauth headless API (not enabled)",
    "<unnamed social/": "allauth SSO pages: public by design",
}


def all_entries() -> list[Entry]:
    entries: list[Entry] = []
    package = import_module(__name__)
    for info in iter_modules(package.__path__):
        module = import_module(f"{__name__}.{info.name}")
        entries.extend(getattr(module, "ENTRIES", []))
    return entries
