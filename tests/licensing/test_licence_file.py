"""The licence file on its own: canonical payload, signature, and the state each file gives on a day."""

from __future__ import annotations

import base64
import json
from datetime import date, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from licensing.licence_file import (
    MESSAGE_PREFIX,
    LicenceError,
    State,
    licence_evaluate,
    licence_issue,
    licence_read,
    signed_message,
    trusted_keys,
)
from licensing.licence_file import public_key_raw as raw

TODAY = date(2026, 12, 2)
# RFC 8032 test vector 1's private key: the signature below is reproducible by anyone with the docs.
VECTOR_KEY = Ed25519PrivateKey.from_private_bytes(
    bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
)


def _issue(key=VECTOR_KEY, **overrides) -> dict:
    fields = {
        "licence_id": "lic_example0001",
        "licensee": "Acme Corp",
        "edition": "business",
        "seats": 50,
        "issued_at": date(2026, 1, 1),
        "expires_at": date(2026, 12, 31),
    }
    return licence_issue(private_key=key, **{**fields, **overrides})


def _keys(key=VECTOR_KEY):
    return trusted_keys([raw(key.public_key()).hex()])


def _read(document: dict, keys=None):
    return licence_read(json.dumps(document).encode(), keys=keys or _keys())


def test_the_signed_bytes_are_the_prefix_and_the_canonical_payload():
    document = _issue()
    message = signed_message(document["payload"])
    assert message == (
        b"cavra-licence/1\n"
        b'{"edition":"business","expires_at":"2026-12-31","issued_at":"2026-01-01","licence_id":"lic_example0001",'
        b'"licensee":"Acme Corp","seats":50,"suspended":false,"suspension_reason":""}'
    )
    assert message.startswith(MESSAGE_PREFIX)
    signature = base64.urlsafe_b64decode(document["signature"]["value"] + "==")
    VECTOR_KEY.public_key().verify(signature, message)  # raises if not
    # The example in docs/entitlements.md is this very document.
    assert document["signature"] == {
        "alg": "Ed25519",
        "key_id": "key_21fe31dfa154a261626bf854",
        "value": "gbwOvbn4r6ARSefav9NvmhB9iq3aFYnjNyuBrIvRwMmoR7tW7T513hTDT12P1yqFee71rUK5Agxk1VcWfg_wCQ",
    }


def test_a_verified_licence_reads_back_with_its_fields():
    licence = _read(_issue())
    assert (licence.licensee, licence.edition, licence.seats) == ("Acme Corp", "business", 50)
    assert (licence.issued_at, licence.expires_at) == (date(2026, 1, 1), date(2026, 12, 31))
    assert licence.key_id == "key_21fe31dfa154a261626bf854" and not licence.suspended


@pytest.mark.parametrize(
    "member, value",
    [("seats", 5000), ("edition", "enterprise"), ("expires_at", "2099-12-31"), ("licensee", "Evil Corp")],
)
def test_a_tampered_payload_is_refused(member, value):
    document = _issue()
    document["payload"][member] = value
    with pytest.raises(LicenceError, match="signature does not match"):
        _read(document)


def test_a_licence_signed_by_another_key_is_refused_naming_the_key():
    stranger = Ed25519PrivateKey.generate()
    document = _issue(key=stranger)
    with pytest.raises(LicenceError, match="not a trusted vendor key"):
        _read(document)
    # Claiming a trusted key id does not help: the signature is checked against that key.
    document["signature"]["key_id"] = "key_21fe31dfa154a261626bf854"
    with pytest.raises(LicenceError, match="signature does not match"):
        _read(document)


def test_an_unknown_edition_is_refused_even_when_correctly_signed():
    document = _issue()
    document["payload"]["edition"] = "platinum"
    value = VECTOR_KEY.sign(signed_message(document["payload"]))
    document["signature"]["value"] = base64.urlsafe_b64encode(value).decode().rstrip("=")
    with pytest.raises(LicenceError, match="unknown edition 'platinum'"):
        _read(document)


@pytest.mark.parametrize(
    "data, says",
    [
        (b"\x89PNG\r\n", "not UTF-8"),
        (b"not json at all", "not JSON"),
        (b"[]", "`format` must be"),
        (b'{"format": "cavra-licence/2"}', "`format` must be"),
        (b'{"format": "cavra-licence/1", "signature": {"alg": "RSA"}}', "`signature.alg`"),
        (b"x" * 70000, "at most"),
    ],
)
def test_garbage_is_refused_saying_why(data, says):
    with pytest.raises(LicenceError, match=says):
        licence_read(data, keys=_keys())


def test_a_payload_with_an_extra_member_is_refused():
    document = _issue()
    document["payload"]["features"] = ["all"]
    value = VECTOR_KEY.sign(signed_message(document["payload"]))
    document["signature"]["value"] = base64.urlsafe_b64encode(value).decode().rstrip("=")
    with pytest.raises(LicenceError, match="unknown member"):
        _read(document)


@pytest.mark.parametrize(
    "overrides, today, state, days_left",
    [
        ({}, TODAY, State.ACTIVE, 29),
        ({}, date(2026, 12, 31), State.ACTIVE, 0),  # valid through its last day
        ({}, date(2027, 1, 1), State.EXPIRED, -1),
        ({"edition": "trial"}, TODAY, State.TRIAL, 29),
        ({"edition": "trial"}, date(2027, 1, 5), State.EXPIRED, -5),
        ({"suspended": True, "suspension_reason": "unpaid invoice"}, TODAY, State.SUSPENDED, 29),
        ({"suspended": True}, date(2027, 2, 1), State.SUSPENDED, -32),  # suspension outranks expiry
    ],
)
def test_the_state_a_licence_gives_on_a_day(overrides, today, state, days_left):
    status = licence_evaluate(_read(_issue(**overrides)), today=today, seats_used=3)
    assert (status.state, status.days_left) == (state, days_left)
    assert status.needs_notice == (state != State.ACTIVE or days_left <= 30)


def test_suspension_says_the_vendors_reason():
    status = licence_evaluate(_read(_issue(suspended=True, suspension_reason="unpaid invoice")), today=TODAY)
    assert status.reason == "The vendor suspended this licence: unpaid invoice"


def test_more_members_than_seats_needs_a_notice_even_when_active():
    licence = _read(_issue(expires_at=TODAY + timedelta(days=200)))
    assert not licence_evaluate(licence, today=TODAY, seats_used=50).needs_notice
    exceeded = licence_evaluate(licence, today=TODAY, seats_used=51)
    assert exceeded.seats_exceeded and exceeded.needs_notice
    unlimited = licence_evaluate(
        _read(_issue(seats=None, expires_at=TODAY + timedelta(days=200))), today=TODAY, seats_used=10**6
    )
    assert not unlimited.seats_exceeded


@pytest.mark.parametrize(
    "overrides, says",
    [
        ({"seats": 0}, "seats"),
        ({"licensee": " "}, "licensee"),
        ({"licence_id": "acme"}, "licence_id"),
        ({"edition": "gold"}, "unknown edition"),
        ({"expires_at": date(2025, 1, 1)}, "before"),
    ],
)
def test_the_issuer_refuses_what_the_reader_would_refuse(overrides, says):
    with pytest.raises(LicenceError, match=says):
        _issue(**overrides)
