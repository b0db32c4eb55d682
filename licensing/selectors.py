"""Reads: the licence in force and its state, parsed once per file version (never per page).

One query per call, whatever the state: seats used and the newest uploaded licence come back together,
so a page's query count does not depend on whether this process parsed the licence before. The parse
itself is cached by the source's identity (the file's mtime and size, or the upload's SHA-256) and the
set of trusted keys, so a page pays for a `stat()` and a dictionary lookup.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.db import connection
from django.utils import timezone

from core.authz import can
from licensing.licence_file import (
    Licence,
    LicenceError,
    LicenceStatus,
    licence_evaluate,
    licence_missing,
    licence_read,
    licence_unknown,
    trusted_keys,
)
from licensing.models import LicenceUpload
from tenants.models import Membership, User

# The product's vendor key (its private half never leaves the vendor). CAVRA_LICENSE_PUBLIC_KEYS adds
# more, e.g. while the vendor rotates keys.
VENDOR_PUBLIC_KEYS: tuple[str, ...] = ("7f34e12d014b135cef017e0d3224689e5c90f7ef773f3d1a1a5c9268e06f904b",)

_lock = threading.Lock()
_parsed: dict[tuple, Licence | str] = {}
_keys_cache: dict[tuple, dict] = {}
PARSE_CACHE_SIZE = 16


@dataclass(frozen=True)
class Upload:
    pk: int
    sha256: str
    text: str


def vendor_keys() -> dict:
    """Trusted key id -> Ed25519 public key: the built-in vendor key and CAVRA_LICENSE_PUBLIC_KEYS."""
    configured = tuple(getattr(settings, "CAVRA_LICENSE_PUBLIC_KEYS", ()) or ())
    key = (*VENDOR_PUBLIC_KEYS, *configured)
    if key not in _keys_cache:
        # A malformed configured key is an operator's mistake that must show, not crash every page:
        # licence_status reports it as the reason the licence is unknown.
        _keys_cache[key] = trusted_keys(list(key))
    return _keys_cache[key]


def _seats_and_latest_upload() -> tuple[int, Upload | None]:
    """Active people holding a membership anywhere, and the newest upload: one statement."""
    members, users, uploads = (Membership._meta.db_table, User._meta.db_table, LicenceUpload._meta.db_table)
    sql = (
        f"SELECT (SELECT COUNT(DISTINCT m.user_id) FROM {members} m JOIN {users} u ON u.id = m.user_id"
        f" WHERE u.is_active), l.id, l.sha256, l.text FROM (SELECT 1 AS one) o"
        f" LEFT JOIN (SELECT id, sha256, text FROM {uploads} ORDER BY id DESC LIMIT 1) l ON 1 = 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        seats, pk, sha256, text = cursor.fetchone()
    return int(seats or 0), (Upload(pk, sha256, text) if pk is not None else None)


def _parse_cached(identity: tuple, read) -> Licence | str:
    """The Licence (or the reason it cannot be trusted) for a source identity; `read()` gives its bytes."""
    hit = _parsed.get(identity)
    if hit is not None:
        return hit
    try:
        result: Licence | str = licence_read(read(), keys=vendor_keys())
    except LicenceError as exc:
        result = str(exc)
    except OSError as exc:
        result = f"the file cannot be read: {exc.strerror or exc}"
    with _lock:
        if len(_parsed) >= PARSE_CACHE_SIZE:
            _parsed.clear()
        _parsed[identity] = result
    return result


def licence_source() -> str:
    path = getattr(settings, "CAVRA_LICENSE_FILE", "") or ""
    return f"file {path}" if path else "uploaded on this page"


def licence_status(*, today: date | None = None) -> LicenceStatus:
    """The state of the licence in force (CAVRA_LICENSE_FILE when set, else the newest upload) today."""
    today = today or timezone.now().date()
    seats_used, upload = _seats_and_latest_upload()
    path = getattr(settings, "CAVRA_LICENSE_FILE", "") or ""
    try:
        keys_id = tuple(sorted(vendor_keys()))
    except LicenceError as exc:
        return licence_unknown(f"CAVRA_LICENSE_PUBLIC_KEYS: {exc}", seats_used=seats_used)
    if path:
        source = f"file {path}"
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            return licence_missing(seats_used=seats_used, source=source)
        except OSError as exc:
            return licence_unknown(
                f"the file cannot be read: {exc.strerror or exc}", seats_used=seats_used, source=source
            )

        def read() -> bytes:
            with open(path, "rb") as handle:
                return handle.read()

        parsed = _parse_cached(("file", path, stat.st_mtime_ns, stat.st_size, keys_id), read)
    elif upload is not None:
        source = "uploaded on this page"
        parsed = _parse_cached(
            ("upload", upload.pk, upload.sha256, keys_id), lambda: upload.text.encode("utf-8")
        )
    else:
        return licence_missing(seats_used=seats_used, source="none: no file configured and nothing uploaded")
    if isinstance(parsed, str):
        return licence_unknown(parsed, seats_used=seats_used, source=source)
    return licence_evaluate(parsed, today=today, seats_used=seats_used, source=source)


def licence_uploads(limit: int = 10) -> list[LicenceUpload]:
    return list(LicenceUpload.objects.defer("text").order_by("-pk")[:limit])


def licence_may_view(user, tenant) -> bool:
    """Platform admins, and tenant admins (the `licensing.view` capability) of the tenant they are in."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return bool(user.is_superuser or (tenant is not None and can(user, tenant, "licensing.view")))


def licence_may_replace(user) -> bool:
    """One licence covers every tenant, so only a platform admin (superuser) replaces it."""
    return bool(
        user is not None and getattr(user, "is_authenticated", False) and user.is_active and user.is_superuser
    )
