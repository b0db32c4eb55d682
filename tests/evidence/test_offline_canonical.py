"""RFC 8785 canonicalisation: the fast path agrees with the reference, and the RFC's own examples hold."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cavra_engine.evidence import schema
from cavra_engine.evidence.canonical import (
    CanonicalizationError,
    canonicalize,
    canonicalize_slow,
    normalize,
    parse_line,
    record_hash,
)

safe_ints = st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1)
json_values = st.recursive(
    st.none() | st.booleans() | safe_ints | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_fast_path_equals_reference(value):
    assert canonicalize(value) == canonicalize_slow(value)
    assert parse_line(canonicalize(value)) == value


def test_rfc8785_key_order_is_by_utf16_code_units():
    # From RFC 8785 section 3.2.3: sorting by UTF-16 puts U+1F600 (surrogates D83D..) before U+FB33.
    value = {"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
             "1": "One", "\U0001f600": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis"}  # fmt: skip
    keys = list(json.loads(canonicalize(value)).keys())
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_string_escaping_is_minimal():
    assert (
        canonicalize('a"b\\c\n\t\b\f\r\x01\x7f\u2028é')
        == '"a\\"b\\\\c\\n\\t\\b\\f\\r\\u0001\x7f\u2028é"'.encode()
    )


def test_numbers_integers_only():
    assert canonicalize({"a": 1.0, "b": -0.0, "c": 2**53 - 1}) == b'{"a":1,"b":0,"c":9007199254740991}'
    for bad in (1.5, 2**53, float("nan"), float("inf")):
        with pytest.raises(CanonicalizationError):
            canonicalize({"x": bad})
    with pytest.raises(CanonicalizationError):
        parse_line(b'{"x":1.5}')
    with pytest.raises(CanonicalizationError):
        parse_line(b'{"x":9007199254740992}')


def test_rejects_lone_surrogates_and_odd_types():
    with pytest.raises(CanonicalizationError):
        canonicalize("\ud800")
    with pytest.raises(CanonicalizationError):
        normalize({"when": object()})
    with pytest.raises(CanonicalizationError, match=r"\$\.a\[1\]"):
        normalize({"a": [1, 0.5]})


def test_worked_example_from_the_format_document():
    record = {"id": "evd_000000000000000000000001", "tenant": "acme", "seq": 1, "kind": "decision.recorded",
              "subject": "dec_example", "payload": {"action": "execute_command", "decision": "block", "target": "rm -rf /"},
              "actor": "agent:agt_example", "created_at": "2026-01-01T00:00:00.000000Z", "prev_hash": "0" * 64}  # fmt: skip
    assert canonicalize(record) == (
        b'{"actor":"agent:agt_example","created_at":"2026-01-01T00:00:00.000000Z","id":"evd_000000000000000000000001",'
        b'"kind":"decision.recorded","payload":{"action":"execute_command","decision":"block","target":"rm -rf /"},'
        b'"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","seq":1,'
        b'"subject":"dec_example","tenant":"acme"}'
    )
    assert record_hash(record) == record_hash({**record, "hash": "ignored"})
    assert (
        schema.members({**record, "hash": record_hash(record)}, schema.RECORD_SPEC) == []
    )  # ids are evd_ + 24 hex
    assert record_hash(record) == "b9c2e2ad059d0210d2b1083c161d96eaf769d59ba3ab223904ed096cd45e55f0"


def test_worked_example_keys_second_record_and_checkpoint():
    import hashlib

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from cavra_engine.evidence.bundle import fingerprint, key_id_for, public_key_raw, sign_checkpoint

    key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"cavra example key").digest())
    raw = public_key_raw(key.public_key())
    assert raw.hex() == "4f0b3fe3411805deaed8738655c97e1c75cd525187a1cb7987112c6e4eaf8b79"
    assert fingerprint(raw) == "47d8293284487a8b9132a929bdb6c62af71a210c772d461b6446586a9feb6cfb"
    assert key_id_for(raw) == "key_47d8293284487a8b9132a929"
    second = {"id": "evd_000000000000000000000002", "tenant": "acme", "seq": 2, "kind": "approval.approved",
              "subject": "apr_example", "payload": {"reviewer": "user:rita@acme.test", "status": "approved", "note": "ok \u00e9\n"},
              "actor": "user:rita@acme.test", "created_at": "2026-01-01T00:00:01.500000Z",
              "prev_hash": "b9c2e2ad059d0210d2b1083c161d96eaf769d59ba3ab223904ed096cd45e55f0"}  # fmt: skip
    head = record_hash(second)
    assert head == "8e498f0ae665c038dfd6a6cbd48b1ebd8d5e70752c8dd4365ab68bb0705fed36"
    cp = sign_checkpoint(
        tenant="acme", seq=2, head_hash=head, created_at="2026-01-01T00:01:00.000000Z", private_key=key
    )
    assert cp["signature"] == (
        "1a28385aca74a8c4eefa3c413eb96b09518f24d743f2ceafd41217d8cf0877d25af11c5f919f408ab0298b62e0eca7d4af45ffcb7cf6a65da79b5f2e4cefbd02"
    )
