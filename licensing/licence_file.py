"""The signed licence file: its canonical payload, Ed25519 signature, and the state it gives on a day.

Pure Python (no Django, no database) so the vendor CLI, the status page and the tests read a file the
same way. The format is specified in docs/entitlements.md; change both together.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import date

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cavra_engine.evidence.bundle import key_id_for
from cavra_engine.evidence.canonical import canonicalize
from licensing.editions import EDITIONS, Edition

FORMAT = "cavra-licence/1"
SIGNATURE_ALG = "Ed25519"
# Domain separation: a licence signature can never be replayed as any other CAVRA signature.
MESSAGE_PREFIX = b"cavra-licence/1\n"
MAX_FILE_BYTES = 64 * 1024
EXPIRY_WARNING_DAYS = 30

PAYLOAD_FIELDS = (
    "licence_id",
    "licensee",
    "edition",
    "seats",
    "issued_at",
    "expires_at",
    "suspended",
    "suspension_reason",
)
_LICENCE_ID = re.compile(r"^lic_[A-Za-z0-9_-]{4,64}$")


class State:
    ACTIVE = "active"
    TRIAL = "trial"
    SUSPENDED = "suspended"
    EXPIRED = "expired"
    MISSING = "missing"
    UNKNOWN = "unknown"  # present, but unreadable, badly signed, by an untrusted key, or an unknown edition


STATE_LABELS = {
    State.ACTIVE: "Active",
    State.TRIAL: "Trial",
    State.SUSPENDED: "Suspended",
    State.EXPIRED: "Expired",
    State.MISSING: "Missing",
    State.UNKNOWN: "Unknown",
}


class LicenceError(ValueError):
    """The file is present but cannot be trusted; the message says why, in words."""


@dataclass(frozen=True)
class Licence:
    licence_id: str
    licensee: str
    edition: str
    seats: int | None  # None: unlimited
    issued_at: date
    expires_at: date
    suspended: bool
    suspension_reason: str
    key_id: str


@dataclass(frozen=True)
class LicenceStatus:
    state: str
    reason: str
    licence: Licence | None = None
    days_left: int | None = None
    seats_used: int | None = None
    source: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return STATE_LABELS[self.state]

    @property
    def seats_exceeded(self) -> bool:
        seats = self.licence.seats if self.licence else None
        return seats is not None and self.seats_used is not None and self.seats_used > seats

    @property
    def days_overdue(self) -> int:
        return -self.days_left if self.days_left is not None and self.days_left < 0 else 0

    @property
    def needs_notice(self) -> bool:
        """The banner shows: anything but an active licence with more than 30 days left and seats to spare."""
        if self.state != State.ACTIVE or self.seats_exceeded:
            return True
        return self.days_left is not None and self.days_left <= EXPIRY_WARNING_DAYS


def signed_message(payload: dict) -> bytes:
    """The exact bytes the signature covers: the prefix, then the RFC 8785 canonical JSON of `payload`."""
    return MESSAGE_PREFIX + canonicalize(payload)


def public_key_raw(key: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def parse_public_key(text: str) -> Ed25519PublicKey:
    """A public key as 64 hex characters or the base64 of its 32 raw bytes."""
    text = text.strip()
    try:
        raw = (
            bytes.fromhex(text)
            if re.fullmatch(r"[0-9a-fA-F]{64}", text)
            else base64.b64decode(text, validate=True)
        )
    except (binascii.Error, ValueError):
        raise LicenceError(f"not an Ed25519 public key (64 hex or base64 of 32 bytes): {text[:20]!r}")
    if len(raw) != 32:
        raise LicenceError(f"an Ed25519 public key has 32 bytes, this one {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def trusted_keys(public_keys: list[str]) -> dict[str, Ed25519PublicKey]:
    keys = {}
    for text in public_keys:
        key = parse_public_key(text)
        keys[key_id_for(public_key_raw(key))] = key
    return keys


def licence_issue(
    *,
    private_key: Ed25519PrivateKey,
    licence_id: str,
    licensee: str,
    edition: str,
    seats: int | None,
    issued_at: date,
    expires_at: date,
    suspended: bool = False,
    suspension_reason: str = "",
) -> dict:
    """The licence document the vendor hands out (validated the same way it will be read)."""
    payload = {
        "licence_id": licence_id,
        "licensee": licensee,
        "edition": edition,
        "seats": seats,
        "issued_at": issued_at.isoformat(),
        "expires_at": expires_at.isoformat(),
        "suspended": suspended,
        "suspension_reason": suspension_reason,
    }
    _payload_check(payload)
    key_id = key_id_for(public_key_raw(private_key.public_key()))
    signature = private_key.sign(signed_message(payload))
    return {
        "format": FORMAT,
        "payload": payload,
        "signature": {
            "alg": SIGNATURE_ALG,
            "key_id": key_id,
            "value": base64.urlsafe_b64encode(signature).decode("ascii").rstrip("="),
        },
    }


def licence_dumps(document: dict) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _date(payload: dict, name: str) -> date:
    value = payload.get(name)
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise LicenceError(f"`payload.{name}` must be a date YYYY-MM-DD, not {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise LicenceError(f"`payload.{name}` is not a real date: {value!r}")


def _payload_check(payload) -> Licence:
    if not isinstance(payload, dict):
        raise LicenceError("`payload` must be a JSON object")
    missing = [name for name in PAYLOAD_FIELDS if name not in payload]
    if missing:
        raise LicenceError(f"`payload` lacks {', '.join(missing)}")
    extra = sorted(set(payload) - set(PAYLOAD_FIELDS))
    if extra:
        raise LicenceError(f"`payload` has unknown member(s) {', '.join(extra)}")
    if not isinstance(payload["licence_id"], str) or not _LICENCE_ID.fullmatch(payload["licence_id"]):
        raise LicenceError("`payload.licence_id` must look like lic_<4-64 letters, digits, _ or ->")
    licensee = payload["licensee"]
    if not isinstance(licensee, str) or not licensee.strip() or len(licensee) > 200:
        raise LicenceError("`payload.licensee` must be a name of 1 to 200 characters")
    edition = payload["edition"]
    if edition not in EDITIONS:
        raise LicenceError(f"unknown edition {edition!r} (known: {', '.join(EDITIONS)})")
    seats = payload["seats"]
    if seats is not None and (
        isinstance(seats, bool) or not isinstance(seats, int) or not 1 <= seats <= 10**7
    ):
        raise LicenceError(
            f"`payload.seats` must be a whole number from 1 or null (unlimited), not {seats!r}"
        )
    if not isinstance(payload["suspended"], bool):
        raise LicenceError("`payload.suspended` must be true or false")
    if not isinstance(payload["suspension_reason"], str) or len(payload["suspension_reason"]) > 500:
        raise LicenceError("`payload.suspension_reason` must be text of at most 500 characters")
    issued, expires = _date(payload, "issued_at"), _date(payload, "expires_at")
    if expires < issued:
        raise LicenceError(f"`payload.expires_at` {expires} is before `payload.issued_at` {issued}")
    return Licence(
        licence_id=payload["licence_id"],
        licensee=licensee.strip(),
        edition=edition,
        seats=seats,
        issued_at=issued,
        expires_at=expires,
        suspended=payload["suspended"],
        suspension_reason=payload["suspension_reason"],
        key_id="",
    )


def licence_read(data: bytes | str, *, keys: dict[str, Ed25519PublicKey]) -> Licence:
    """The licence in `data` once its signature verifies under one of `keys`; LicenceError says why not."""
    if isinstance(data, bytes):
        if len(data) > MAX_FILE_BYTES:
            raise LicenceError(f"the file has {len(data)} bytes; a licence has at most {MAX_FILE_BYTES}")
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise LicenceError("the file is not UTF-8 text (is it a licence file?)")
    try:
        document = json.loads(data)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise LicenceError(f"the file is not JSON: {exc}")
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        found = document.get("format") if isinstance(document, dict) else None
        raise LicenceError(f"`format` must be {FORMAT!r}, not {found!r}")
    signature = document.get("signature")
    if not isinstance(signature, dict) or signature.get("alg") != SIGNATURE_ALG:
        raise LicenceError(f"`signature.alg` must be {SIGNATURE_ALG!r}")
    key_id = signature.get("key_id")
    if key_id not in keys:
        raise LicenceError(
            f"signed by key {key_id!r}, which is not a trusted vendor key (CAVRA_LICENSE_PUBLIC_KEYS)"
        )
    value = signature.get("value")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)) if isinstance(value, str) else b""
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 64:
        raise LicenceError("`signature.value` is not a base64url Ed25519 signature (64 bytes)")
    payload = document.get("payload")
    try:
        message = signed_message(payload) if isinstance(payload, dict) else b""
        keys[key_id].verify(raw, message)
    except (InvalidSignature, ValueError, TypeError):
        raise LicenceError(
            "the signature does not match the payload: the file was altered or not issued by the vendor"
        )
    licence = _payload_check(payload)
    return Licence(**{**licence.__dict__, "key_id": key_id})


def licence_evaluate(
    licence: Licence, *, today: date, seats_used: int | None = None, source: str = ""
) -> LicenceStatus:
    """The state a verified licence gives on `today`: suspended, then expired, then trial or active."""
    days_left = (licence.expires_at - today).days
    common = {"licence": licence, "days_left": days_left, "seats_used": seats_used, "source": source}
    if licence.suspended:
        reason = "The vendor suspended this licence" + (
            f": {licence.suspension_reason}" if licence.suspension_reason else "."
        )
        return LicenceStatus(State.SUSPENDED, reason, **common)
    if today > licence.expires_at:
        ago = (today - licence.expires_at).days
        return LicenceStatus(
            State.EXPIRED, f"The licence expired on {licence.expires_at} ({ago} days ago).", **common
        )
    if today < licence.issued_at:
        # Not a reason to distrust it (clocks differ), but worth a word.
        common["warnings"] = [f"The licence is issued for {licence.issued_at}, after today ({today})."]
    if licence.edition == Edition.TRIAL:
        return LicenceStatus(State.TRIAL, f"Trial licence until {licence.expires_at}.", **common)
    return LicenceStatus(State.ACTIVE, f"Licensed until {licence.expires_at}.", **common)


def licence_missing(*, seats_used: int | None = None, source: str = "") -> LicenceStatus:
    return LicenceStatus(
        State.MISSING,
        "No licence is installed: the portal runs as the community edition.",
        seats_used=seats_used,
        source=source,
    )


def licence_unknown(error: str, *, seats_used: int | None = None, source: str = "") -> LicenceStatus:
    return LicenceStatus(
        State.UNKNOWN, f"The licence cannot be trusted: {error}", seats_used=seats_used, source=source
    )
