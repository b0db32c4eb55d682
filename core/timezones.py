"""The reader's time zone (as their browser reports it) and moments written for that reader."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

# Set by static/js/timezone.js from Intl.DateTimeFormat().resolvedOptions().timeZone.
COOKIE = "cavra_tz"


def request_timezone(request) -> tzinfo:
    """The IANA zone the browser reported, or UTC when none (or nonsense) was sent."""
    name = (request.COOKIES.get(COOKIE) or "").strip()
    if not name or len(name) > 64:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def reader_time(moment: datetime) -> str:
    """`moment` in the active time zone with its abbreviation, plus UTC when that zone is not UTC."""
    local = timezone.localtime(moment)
    text = f"{local:%Y-%m-%d %H:%M:%S} {local.tzname() or ''}".rstrip()
    if local.utcoffset():
        text += f" ({moment.astimezone(UTC):%H:%M:%S} UTC)"
    elif local.tzname() != "UTC":
        text = f"{local:%Y-%m-%d %H:%M:%S} UTC"
    return text
