"""Last-used times of tokens and bindings, written at most once a minute per row.

Authentication runs on every request; recording each use would be a write per request. One
conditional UPDATE (none at all most of the time) keeps `last_used_at` accurate to the minute.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import models
from django.db.models import Q

USE_GRANULARITY = timedelta(minutes=1)


def record_use(row: models.Model, now: datetime) -> bool:
    """Set `row.last_used_at` to now unless it was set within the last minute; True when this call wrote it."""
    stale = now - USE_GRANULARITY
    if row.last_used_at is not None and row.last_used_at > stale:
        return False
    updated = (
        type(row)
        ._default_manager.filter(pk=row.pk)
        .filter(Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale))
        .update(last_used_at=now)
    )
    if updated:
        row.last_used_at = now
    return bool(updated)
