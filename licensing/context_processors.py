"""The licence banner in the base layout, for the people who can act on it (platform and tenant admins).

Other members never see it and their pages run no licence query; for admins it costs one query (seats and
the newest upload together) and no parsing (licensing.selectors caches the parse per file version).
"""

from __future__ import annotations

from licensing.selectors import licence_may_view, licence_status


def licence_banner(request) -> dict:
    user = getattr(request, "user", None)
    if not licence_may_view(user, getattr(request, "tenant", None)):
        return {}
    status = licence_status()
    return {"licence_notice": status} if status.needs_notice else {}
