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
    capability: str | None = None  # None: every member
    order: int = 100


@dataclass(frozen=True)
class HomePanel:
    title: str
    template: str
    capability: str | None  # None: every member
    context: Callable[..., dict[str, Any]] = field(default=lambda **_: {})
    order: int = 100


_NAV: list[NavItem] = []
_PANELS: list[HomePanel] = []


def _capability(value) -> str | None:
    # Entries name a capability of core.authz, never a list of roles (the role table is there, once).
    if value is not None and not isinstance(value, str):
        raise TypeError(f"Navigation and home panels take a capability name or None, not {value!r}.")
    return value


def register_navigation(items: Iterable[tuple[str, str, str | None]], *, order: int = 100) -> None:
    """Add an app's nav entries as (label, url name, capability); capability None is for every member.

    `order` places the app's group in the bar (lower first); entries keep their order inside it.
    """
    for label, url_name, capability in items:
        entry = NavItem(label, url_name, _capability(capability), order)
        if entry not in _NAV:
            _NAV.append(entry)
    _NAV.sort(key=lambda item: item.order)


def register_home_panels(panels: Iterable[HomePanel]) -> None:
    for panel in panels:
        _capability(panel.capability)
        if panel not in _PANELS:
            _PANELS.append(panel)


def navigation_for(capabilities: frozenset[str]) -> list[dict]:
    """Nav entries these capabilities open, in registration order (capability None: every member)."""
    entries = []
    for item in _NAV:
        if item.capability is not None and item.capability not in capabilities:
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


def panels_for(*, capabilities: frozenset[str], user, tenant) -> list[dict[str, Any]]:
    chosen = [p for p in _PANELS if p.capability is None or p.capability in capabilities]
    chosen.sort(key=lambda p: (p.order, p.title))
    return [
        {"title": p.title, "template": p.template, "context": p.context(user=user, tenant=tenant)}
        for p in chosen
    ]


class ImproperlyConfiguredNav(LookupError):
    pass
