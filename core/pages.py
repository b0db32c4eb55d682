"""The shell's page registries: navigation entries and home panels that each app registers in AppConfig.ready()."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.urls import NoReverseMatch, reverse


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    roles: tuple[str, ...] = ()
    order: int = 100


@dataclass(frozen=True)
class HomePanel:
    title: str
    template: str
    roles: tuple[str, ...]
    context: Callable[..., dict[str, Any]] = field(default=lambda **_: {})
    order: int = 100


_NAV: list[NavItem] = []
_PANELS: list[HomePanel] = []


def register_navigation(items: Iterable[tuple[str, str, Iterable[str]]], *, order: int = 100) -> None:
    """Add an app's nav entries as (label, url name, roles); an empty roles list is for every member.

    `order` places the app's group in the bar (lower first); entries keep their order inside it.
    """
    for label, url_name, roles in items:
        entry = NavItem(label, url_name, tuple(roles), order)
        if entry not in _NAV:
            _NAV.append(entry)
    _NAV.sort(key=lambda item: item.order)


def register_home_panels(panels: Iterable[HomePanel]) -> None:
    for panel in panels:
        if panel not in _PANELS:
            _PANELS.append(panel)


def navigation_for(roles: frozenset[str]) -> list[dict]:
    """Nav entries these roles open, in registration order (a role-less entry is for every member)."""
    entries = []
    for item in _NAV:
        if item.roles and not (roles & set(item.roles)):
            continue
        try:
            url = reverse(item.url_name)
        except NoReverseMatch:
            # A nav entry whose page is missing is a programming error, not an optional page.
            raise ImproperlyConfiguredNav(
                f"Navigation entry {item.label!r} names unknown URL {item.url_name!r}."
            )
        entries.append({"label": item.label, "url": url, "url_name": item.url_name})
    return entries


def panels_for(*, roles: frozenset[str], user, tenant) -> list[dict[str, Any]]:
    chosen = [p for p in _PANELS if not p.roles or roles & set(p.roles)]
    chosen.sort(key=lambda p: (p.order, p.title))
    return [
        {"title": p.title, "template": p.template, "context": p.context(user=user, tenant=tenant)}
        for p in chosen
    ]


class ImproperlyConfiguredNav(LookupError):
    pass
