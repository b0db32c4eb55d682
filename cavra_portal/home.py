"""The home page is made of panels that each app contributes for the roles it serves."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

from cavra_portal.navigation import NAV_APPS
from tenants.permissions import roles_of


@dataclass(frozen=True)
class HomePanel:
    title: str
    template: str
    roles: tuple[str, ...]
    context: Callable[..., dict[str, Any]] = field(default=lambda **_: {})
    order: int = 100


def panels_for(*, user, tenant) -> list[dict[str, Any]]:
    held = roles_of(user, tenant)
    panels: list[HomePanel] = []
    for app in NAV_APPS:
        try:
            module = import_module(f"{app}.home")
        except ModuleNotFoundError:
            continue
        panels.extend(p for p in getattr(module, "HOME_PANELS", []) if not p.roles or held & set(p.roles))
    panels.sort(key=lambda p: (p.order, p.title))
    return [
        {"title": p.title, "template": p.template, "context": p.context(user=user, tenant=tenant)}
        for p in panels
    ]
