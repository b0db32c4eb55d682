"""Writes: a platform admin installs or replaces the licence (verified, stored, evidenced in every tenant)."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from evidence.kinds import LICENCE_INSTALLED, LICENCE_REPLACED
from evidence.services import evidence_append
from licensing.licence_file import LicenceError, State, licence_evaluate, licence_read
from licensing.models import LicenceUpload
from licensing.selectors import licence_may_replace, vendor_keys
from tenants.models import Tenant

FIELD = "licence_file"


class LicenceManagedByFile(Exception):
    """CAVRA_LICENSE_FILE is set: the file is the one source, an upload would be silently ignored."""


def licence_upload(*, actor, data: bytes) -> LicenceUpload:
    """Verify `data` as a licence, store it as the one in force and record it in every tenant's evidence.

    Refused: a person who is not a platform admin (PermissionDenied), a configured CAVRA_LICENSE_FILE
    (LicenceManagedByFile), and a file that is unreadable, badly signed, of an unknown edition, expired, or
    the licence already in force (ValidationError on `licence_file`, saying why).
    """
    if not licence_may_replace(actor):
        raise PermissionDenied("Only a platform admin replaces the licence: it covers every tenant.")
    if getattr(settings, "CAVRA_LICENSE_FILE", ""):
        raise LicenceManagedByFile(
            f"The licence is read from CAVRA_LICENSE_FILE ({settings.CAVRA_LICENSE_FILE}); replace that file instead."
        )
    if not data:
        raise ValidationError({FIELD: "Choose a licence file to upload."})
    try:
        licence = licence_read(data, keys=vendor_keys())
    except LicenceError as exc:
        raise ValidationError({FIELD: f"This licence cannot be installed: {exc}"})
    status = licence_evaluate(licence, today=timezone.now().date())
    if status.state == State.EXPIRED:
        raise ValidationError({FIELD: f"This licence cannot be installed: {status.reason}"})
    text = data.decode("utf-8")
    digest = hashlib.sha256(data).hexdigest()
    with transaction.atomic():
        previous = LicenceUpload.objects.select_for_update().order_by("-pk").first()
        if previous is not None and previous.sha256 == digest:
            raise ValidationError({FIELD: "This licence is already installed."})
        upload = LicenceUpload.objects.create(
            text=text,
            sha256=digest,
            licence_id=licence.licence_id,
            licensee=licence.licensee,
            edition=licence.edition,
            expires_at=licence.expires_at,
            uploaded_by=actor,
            uploaded_by_label=actor.email,
        )
        payload = {
            "licence_id": licence.licence_id,
            "sha256": digest,
            "licensee": licence.licensee,
            "edition": licence.edition,
            "seats": licence.seats,
            "issued_at": licence.issued_at.isoformat(),
            "expires_at": licence.expires_at.isoformat(),
            "state": status.state,
            "key_id": licence.key_id,
            "previous": (
                {"licence_id": previous.licence_id, "sha256": previous.sha256}
                if previous is not None
                else None
            ),
        }
        kind = LICENCE_INSTALLED if previous is None else LICENCE_REPLACED
        # One licence covers every tenant, so each tenant's own chain proves which licence it ran under.
        for tenant in Tenant.objects.order_by("pk"):
            evidence_append(
                tenant=tenant,
                kind=kind,
                subject=f"licence:{licence.licence_id}",
                payload=payload,
                actor=actor,
            )
    return upload
