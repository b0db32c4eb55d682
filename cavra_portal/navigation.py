"""The navigation of the shell: each app contributes NAV_ITEMS in its own navigation.py."""

from __future__ import annotations

from importlib import import_module

from django.urls import NoReverseMatch, reverse

from tenants.permissions import roles_of

NAV_APPS = ("tenants", "policies", "approvals", "registry", "evidence", "aispm")


def _items():
    for app in NAV_APPS:
        try:
            module = import_module(f"{app}.navigation")
        except ModuleNotFoundError:
            continue
        yield from getattr(module, "NAV_ITEMS", [])


def navigation_for(user, tenant) -> list[dict]:
    """Nav entries the user's roles open in this tenant (a role-less entry is for every member)."""
    held = roles_of(user, tenant)
    entries = []
    for label, url_name, roles in _items():
        if roles and not (held & set(roles)):
            continue
        try:
            url = reverse(url_name)
        except NoReverseMatch:
            continue
        entries.append({"label": label, "url": url, "url_name": url_name})
    return entries
