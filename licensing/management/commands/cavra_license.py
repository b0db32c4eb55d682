"""The vendor's licence tool: `keygen` a signing key, `issue` a signed licence, `verify` a licence file.

    manage.py cavra_license keygen --out vendor-licence.key
    manage.py cavra_license issue --key vendor-licence.key --licensee "Acme Corp" --edition business \
        --seats 50 --expires 2027-12-31 --out acme.cavra-licence.json
    manage.py cavra_license verify acme.cavra-licence.json [--public-key HEX]

`verify` exits 0 when the licence is active or trial, 1 otherwise (state and reason printed). The file
format is in docs/entitlements.md. The private key never enters the portal: keep it with the vendor.
"""

from __future__ import annotations

import os
import secrets
import sys
from datetime import date

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from cavra_engine.evidence.bundle import key_id_for
from licensing.editions import EDITIONS
from licensing.licence_file import (
    LicenceError,
    State,
    licence_dumps,
    licence_evaluate,
    licence_issue,
    licence_read,
    public_key_raw,
    trusted_keys,
)
from licensing.selectors import vendor_keys


def _date(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--{name}: not a date YYYY-MM-DD: {text!r}")


def _load_private_key(path: str) -> Ed25519PrivateKey:
    try:
        with open(path, "rb") as handle:
            key = serialization.load_pem_private_key(handle.read(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise CommandError(f"--key {path}: not a readable PEM private key ({exc})")
    if not isinstance(key, Ed25519PrivateKey):
        raise CommandError(f"--key {path}: an Ed25519 key is needed")
    return key


class Command(BaseCommand):
    help = "Issue and verify CAVRA licence files (Ed25519), and create the vendor's signing key."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        keygen = sub.add_parser("keygen", help="create a vendor signing key (PEM, mode 0600)")
        keygen.add_argument("--out", required=True, help="where to write the private key")

        issue = sub.add_parser("issue", help="sign a licence")
        issue.add_argument("--key", required=True, help="the vendor's PEM private key")
        issue.add_argument("--licensee", required=True)
        issue.add_argument("--edition", required=True, choices=EDITIONS)
        issue.add_argument("--seats", type=int, default=None, help="licensed seats (omit: unlimited)")
        issue.add_argument("--issued", default=None, help="YYYY-MM-DD (default: today)")
        issue.add_argument("--expires", required=True, help="YYYY-MM-DD, the last day it is valid")
        issue.add_argument("--licence-id", default=None, help="default: lic_<random>")
        issue.add_argument("--suspended", action="store_true", help="issue a suspension notice")
        issue.add_argument("--reason", default="", help="the suspension reason shown to the customer")
        issue.add_argument("--out", default="-", help="file to write (default: standard output)")

        verify = sub.add_parser("verify", help="verify a licence file and print its state")
        verify.add_argument("file")
        verify.add_argument(
            "--public-key",
            action="append",
            default=[],
            help="trust this key (64 hex) instead of the portal's configured vendor keys; repeatable",
        )

    def handle(self, *args, action, **options):
        return getattr(self, f"_{action}")(**options)

    def _keygen(self, *, out, **_):
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise CommandError(f"--out {out}: {exc.strerror} (an existing key is never overwritten)")
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        raw = public_key_raw(key.public_key())
        self.stdout.write(f"private key: {out} (keep it with the vendor)\n")
        self.stdout.write(f"public key:  {raw.hex()}\nkey id:      {key_id_for(raw)}\n")
        self.stdout.write(
            "Portals trust it through CAVRA_LICENSE_PUBLIC_KEYS (or as the built-in vendor key).\n"
        )

    def _issue(
        self, *, key, licensee, edition, seats, issued, expires, licence_id, suspended, reason, out, **_
    ):
        try:
            document = licence_issue(
                private_key=_load_private_key(key),
                licence_id=licence_id or f"lic_{secrets.token_hex(8)}",
                licensee=licensee,
                edition=edition,
                seats=seats,
                issued_at=_date(issued, "issued") if issued else timezone.now().date(),
                expires_at=_date(expires, "expires"),
                suspended=suspended,
                suspension_reason=reason,
            )
        except LicenceError as exc:
            raise CommandError(str(exc))
        text = licence_dumps(document)
        if out == "-":
            self.stdout.write(text, ending="")
        else:
            with open(out, "w", encoding="utf-8") as handle:
                handle.write(text)
            self.stderr.write(
                f"wrote {out}: {document['payload']['licence_id']}, signed by {document['signature']['key_id']}"
            )

    def _verify(self, *, file, public_key, **_):
        try:
            keys = trusted_keys(public_key) if public_key else vendor_keys()
            with open(file, "rb") as handle:
                licence = licence_read(handle.read(), keys=keys)
        except OSError as exc:
            raise CommandError(f"{file}: {exc.strerror}")
        except LicenceError as exc:
            self.stdout.write(f"state: unknown\nreason: The licence cannot be trusted: {exc}\n")
            sys.exit(1)
        status = licence_evaluate(licence, today=timezone.now().date())
        seats = "unlimited" if licence.seats is None else licence.seats
        self.stdout.write(
            f"state: {status.state}\nreason: {status.reason}\nlicence: {licence.licence_id}\n"
            f"licensee: {licence.licensee}\nedition: {licence.edition}\nseats: {seats}\n"
            f"issued: {licence.issued_at}\nexpires: {licence.expires_at} ({status.days_left} days left)\n"
            f"signed by: {licence.key_id}\n"
        )
        if status.state not in (State.ACTIVE, State.TRIAL):
            sys.exit(1)
