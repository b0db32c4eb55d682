"""Every kind of change to a bundle is caught offline, with a message naming what broke."""

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cavra_engine.evidence import container
from cavra_engine.evidence.bundle import (
    FILES,
    build_bundle,
    public_key_raw,
    sign_checkpoint,
    trust_root_document,
)
from cavra_engine.evidence.canonical import canonicalize, parse_line, record_hash
from cavra_engine.evidence.cli import main as cli_main
from cavra_engine.evidence.synthetic import synthetic_bundle
from cavra_engine.evidence.verify import verify_bundle

KEY = Ed25519PrivateKey.generate()
BUNDLE, _ = synthetic_bundle(12, checkpoint_every=4, key=KEY)


def unpack(data: bytes) -> dict[str, bytes]:
    members = container.read(data, FILES)
    return {name: bytes(container.content(data, m)) for name, m in members.items()}


def records_of(files) -> list[dict]:
    return [parse_line(line) for line in files["records.jsonl"].splitlines()]


def checkpoints_of(files) -> list[dict]:
    return [parse_line(line) for line in files["checkpoints.jsonl"].splitlines()]


def resign(
    files, *, records=None, checkpoints=None, key=KEY, trust_root=None, first_seq=None, last_seq=None
) -> bytes:
    """Rebuild a bundle around modified content and sign it again with the tenant's real key.

    This is the strongest attacker (one who can also sign manifests): whatever is caught here is caught
    by the chain and checkpoint checks alone, not by the manifest hashes.
    """
    manifest = json.loads(files["manifest.json"])
    records = records if records is not None else records_of(files)
    checkpoints = checkpoints if checkpoints is not None else checkpoints_of(files)
    return build_bundle(
        tenant=manifest["tenant"], created_at=manifest["created_at"],
        records_jsonl=b"".join(canonicalize(r) + b"\n" for r in records), checkpoints=checkpoints,
        trust_root=trust_root or json.loads(files["trust-root.json"]),
        first_seq=first_seq or manifest["first_seq"], last_seq=last_seq or manifest["last_seq"],
        record_count=len(records), selection=manifest["selection"], private_key=key,
    )  # fmt: skip


def messages(data: bytes, **kwargs) -> str:
    report = verify_bundle(data, **kwargs)
    assert not report.ok, "tampered bundle verified"
    return "\n".join(str(p) for p in report.problems)


def test_intact_bundle_verifies():
    report = verify_bundle(BUNDLE)
    assert report.ok, report.problems
    assert report.summary["records"] == 12 and report.summary["checkpoints"] == 3


def test_every_single_byte_flip_is_detected():
    for offset in range(len(BUNDLE)):
        tampered = bytearray(BUNDLE)
        tampered[offset] ^= 0x01
        assert not verify_bundle(bytes(tampered)).ok, f"flip at byte {offset} went unnoticed"


def test_byte_flip_in_a_record_names_the_record():
    files = unpack(BUNDLE)
    start = BUNDLE.index(b'"seq":5,')
    tampered = bytearray(BUNDLE)
    tampered[start - 30] ^= 0x02  # inside record 5's payload
    text = messages(bytes(tampered))
    assert "records.jsonl line 5 (seq 5): hash mismatch" in text
    assert "records.jsonl: SHA-256 or size differs from manifest.json" in text
    assert files  # unpacked fine before tampering


@pytest.mark.parametrize("resigned", [False, True])
def test_changed_record(resigned):
    files = unpack(BUNDLE)
    records = records_of(files)
    records[6]["payload"]["decision"] = "allow" if records[6]["payload"]["decision"] == "block" else "block"
    if resigned:
        text = messages(resign(files, records=records))
        assert "records.jsonl line 7 (seq 7): hash mismatch" in text
    else:
        files["records.jsonl"] = b"".join(canonicalize(r) + b"\n" for r in records)
        text = messages(container.build([(n, files[n]) for n in FILES]))
        assert "line 7 (seq 7): hash mismatch" in text and "SHA-256 or size differs" in text


def test_changed_record_with_rehashed_chain_is_caught_by_the_signed_checkpoint():
    files = unpack(BUNDLE)
    records = records_of(files)
    records[9]["payload"]["decision"] = "allow"
    prev = records[8]["hash"]
    for record in records[9:]:
        record["prev_hash"] = prev
        record["hash"] = prev = record_hash(record)
    text = messages(resign(files, records=records))
    assert "signed checkpoint at seq 12 names head hash" in text


def test_removed_record():
    files = unpack(BUNDLE)
    records = records_of(files)
    del records[3]
    text = messages(resign(files, records=records))
    assert "line 4 (seq 5): seq 4 missing" in text
    assert "broken link" in text


def test_removed_last_record():
    files = unpack(BUNDLE)
    text = messages(resign(files, records=records_of(files)[:-1]))
    assert "records end at seq 11, the manifest says 12" in text


def test_removed_first_record():
    files = unpack(BUNDLE)
    text = messages(resign(files, records=records_of(files)[1:]))
    assert "seq 1 missing" in text


def test_swapped_records():
    files = unpack(BUNDLE)
    records = records_of(files)
    records[2], records[3] = records[3], records[2]
    text = messages(resign(files, records=records))
    assert "line 3 (seq 4)" in text and "broken link" in text


def test_added_record_at_the_end_even_with_a_valid_link():
    files = unpack(BUNDLE)
    records = records_of(files)
    extra = {**records[-1], "seq": 13, "id": "evd_extra", "prev_hash": records[-1]["hash"]}
    extra["hash"] = record_hash(extra)
    text = messages(resign(files, records=records + [extra], last_seq=13))
    assert "no checkpoint signs the last record (seq 13)" in text


def test_duplicated_record():
    files = unpack(BUNDLE)
    records = records_of(files)
    text = messages(resign(files, records=records[:5] + [records[4]] + records[5:]))
    assert "expected seq 6, found 5" in text


def test_changed_checkpoint_head_and_time():
    files = unpack(BUNDLE)
    cps = checkpoints_of(files)
    cps[0]["head_hash"] = "a" * 64
    text = messages(resign(files, checkpoints=cps))
    assert "checkpoints.jsonl line 1 (seq 4): checkpoint signature does not verify" in text
    cps = checkpoints_of(files)
    cps[1]["created_at"] = "2026-01-01T00:00:09.000000Z"
    assert "checkpoints.jsonl line 2 (seq 8): checkpoint signature does not verify" in messages(
        resign(files, checkpoints=cps)
    )


def test_removed_and_reordered_and_forged_checkpoints():
    files = unpack(BUNDLE)
    cps = checkpoints_of(files)
    assert "no checkpoint signs the last record (seq 12)" in messages(resign(files, checkpoints=cps[:-1]))
    assert "not in increasing seq order" in messages(resign(files, checkpoints=[cps[1], cps[0], cps[2]]))
    intruder = Ed25519PrivateKey.generate()
    forged = sign_checkpoint(tenant="acme", seq=10, head_hash=records_of(files)[9]["hash"],
                             created_at="2026-01-01T00:00:02.000000Z", private_key=intruder)  # fmt: skip
    text = messages(resign(files, checkpoints=[cps[0], cps[1], forged, cps[2]]))
    assert "(seq 10): checkpoint signed by key" in text and "not in the trust root" in text


def test_signature_flip_in_checkpoint_and_manifest():
    files = unpack(BUNDLE)
    cps = checkpoints_of(files)
    cps[2]["signature"] = ("0" if cps[2]["signature"][0] != "0" else "1") + cps[2]["signature"][1:]
    assert "(seq 12): checkpoint signature does not verify" in messages(resign(files, checkpoints=cps))
    sig = json.loads(files["manifest.sig"])
    sig["signature"] = sig["signature"][::-1]
    files["manifest.sig"] = canonicalize(sig)
    assert "manifest.sig: manifest signature does not verify" in messages(
        container.build([(n, files[n]) for n in FILES])
    )


def test_changed_manifest():
    files = unpack(BUNDLE)
    manifest = json.loads(files["manifest.json"])
    manifest["selection"] = {"filter": {"session": "ses_other"}, "matched": 1}
    files["manifest.json"] = canonicalize(manifest)
    assert "manifest.sig: manifest signature does not verify" in messages(
        container.build([(n, files[n]) for n in FILES])
    )


def test_replaced_trust_root_is_caught_with_an_external_trust_root():
    files = unpack(BUNDLE)
    attacker = Ed25519PrivateKey.generate()
    cps = [sign_checkpoint(tenant="acme", seq=c["seq"], head_hash=c["head_hash"], created_at=c["created_at"],
                           private_key=attacker) for c in checkpoints_of(files)]  # fmt: skip
    fake_root = trust_root_document(tenant="acme", created_at="2026-01-02T00:00:00.000000Z", keys=[
        {"public_key": public_key_raw(attacker.public_key()).hex(), "valid_from": "2025-01-01T00:00:00.000000Z", "valid_until": None}])  # fmt: skip
    forged = resign(files, checkpoints=cps, key=attacker, trust_root=fake_root)
    assert verify_bundle(forged).ok  # self-consistent: the embedded trust root only proves integrity
    real_root = json.loads(files["trust-root.json"])
    text = messages(forged, trust_root=real_root)
    assert "manifest.sig: manifest signed by key" in text and "not in the trust root" in text
    assert "checkpoints.jsonl line 1 (seq 4): checkpoint signed by key" in text


def test_changed_trust_root_validity_window():
    files = unpack(BUNDLE)
    root = json.loads(files["trust-root.json"])
    root["keys"][0]["valid_until"] = "2026-01-01T00:00:00.005000Z"
    text = messages(resign(files, trust_root=root))
    assert "was not valid at" in text


def test_truncated_and_extended_files():
    assert "not a CAVRA evidence bundle" in messages(BUNDLE[:-5])
    assert "not a CAVRA evidence bundle" in messages(BUNDLE + b"\0")
    assert "not a CAVRA evidence bundle" in messages(b"PK\x03\x04 not really")


def test_cli_exit_codes_and_messages(tmp_path, capsys):
    good = tmp_path / "good.zip"
    good.write_bytes(BUNDLE)
    root = tmp_path / "root.json"
    root.write_bytes(unpack(BUNDLE)["trust-root.json"])
    assert cli_main(["verify", str(good), "--trust-root", str(root)]) == 0
    assert "OK  bundle intact: tenant acme, records seq 1..12" in capsys.readouterr().out
    bad = tmp_path / "bad.zip"
    flipped = bytearray(BUNDLE)
    flipped[200] ^= 0xFF
    bad.write_bytes(bytes(flipped))
    assert cli_main(["verify", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "records.jsonl line 1 (seq 1): $: not UTF-8" in err and "[json.syntax]" in err
    assert cli_main(["verify", str(bad), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["ok"] is False
    assert cli_main(["verify", str(tmp_path / "missing.zip")]) == 2
    assert cli_main(["frobnicate"]) == 2


def test_large_bundle_uses_parallel_walk_and_reports_the_record():
    data, key = synthetic_bundle(25_000, checkpoint_every=5_000)
    assert verify_bundle(data).ok
    start = data.index(b'"seq":17001,')
    tampered = bytearray(data)
    tampered[start - 40] ^= 0x04
    text = messages(bytes(tampered))
    assert "records.jsonl line 17001 (seq 17001): hash mismatch" in text


def test_hash_member_moved_out_of_canonical_place_is_caught_even_when_resigned():
    files = unpack(BUNDLE)
    manifest = json.loads(files["manifest.json"])
    lines = []
    for number, record in enumerate(records_of(files), start=1):
        line = canonicalize(record)
        if number == 5:  # same content and hash, but the member sits at the end of the object
            stored = record.pop("hash")
            line = canonicalize(record)[:-1] + b',"hash":"' + stored.encode() + b'"}'
        lines.append(line + b"\n")
    tampered = build_bundle(
        tenant=manifest["tenant"], created_at=manifest["created_at"], records_jsonl=b"".join(lines),
        checkpoints=checkpoints_of(files), trust_root=json.loads(files["trust-root.json"]),
        first_seq=manifest["first_seq"], last_seq=manifest["last_seq"], record_count=len(lines),
        selection=manifest["selection"], private_key=KEY,
    )  # fmt: skip
    text = messages(tampered)
    assert "line 5 (seq 5): created_at: not canonical JSON" in text and "[json.not_canonical]" in text
