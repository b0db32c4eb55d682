"""The licence banner in the base layout, for the people who can act on it (platform and tenant admins).

Other members never see it and their pages run no licence query; for admins it costs one query (seats and
the newest upload together) and no parsing (licensing.selectors caches the parse per file version).
"""

from __future__ import annotations

import logging

from django.db import DatabaseError

from licensing.selectors import licence_may_view, licence_status

logger = logging.getLogger(__name__)


def licence_banner(request) -> dict:
    # An htmx request renders a fragment, never the base layout: no banner to compute. The raw header is
    # read (not request.htmx) because the body does not depend on it, so no `Vary` is owed.
    if request.META.get("HTTP_HX_REQUEST") == "true":
        return {}
    user = getattr(request, "user", None)
    if not licence_may_view(user, getattr(request, "tenant", None)):
        return {}
    try:
        status = licence_status()
    except DatabaseError:
        # A notice must never be what breaks a page (e.g. the error page while the database is down).
        logger.warning("licence banner skipped: the database did not answer", exc_info=True)
        return {}
    return {"licence_notice": status} if status.needs_notice else {}
