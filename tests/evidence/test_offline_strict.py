"""The verifier re-derives the canonical form and checks every member: each way of breaking the format
(docs/evidence-vectors/expected.json) is rejected with its own error code, with and without a trust root."""

import json
from pathlib import Path

import pytest

from cavra_engine.evidence.bundle import build_bundle
from cavra_engine.evidence.cli import main as cli_main
from cavra_engine.evidence.synthetic import EMPTY_FILTER
from cavra_engine.evidence.vectors import CASES, KEY, VALID, build_vectors, trust_root_bytes, valid_parts
from cavra_engine.evidence.verify import verify_bundle

VECTORS = build_vectors()
DOCS = Path(__file__).resolve().parents[2] / "docs" / "evidence-vectors"


@pytest.fixture(scope="module")
def root_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("root") / "trust-root.json"
    path.write_bytes(trust_root_bytes())
    return path


def run_cli(tmp_path, capsys, data: bytes, root) -> tuple[int, dict]:
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(data)
    args = ["verify", str(bundle), "--json"] + (["--trust-root", str(root)] if root else [])
    status = cli_main(args)
    return status, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("with_root", [False, True], ids=["embedded-root", "external-root"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_each_malformation_is_rejected_with_its_own_code(name, with_root, tmp_path, capsys, root_file):
    data, expected = VECTORS[name]
    status, result = run_cli(tmp_path, capsys, data, root_file if with_root else None)
    assert status == 1 and result["ok"] is False
    hits = [p for p in result["problems"] if p["code"] == expected["code"]]
    assert hits, f"{name}: expected {expected['code']}, got {[p['code'] for p in result['problems']]}"
    hit = hits[0]
    assert hit["where"] == expected["where"]
    assert hit["seq"] == expected["seq"]
    if expected["member"] is not None:
        assert hit["member"] == expected["member"]
    with_text = capsys  # the text output names the same place: file, line, seq and member
    status = cli_main(
        ["verify", str(tmp_path / "bundle.zip")] + (["--trust-root", str(root_file)] if with_root else [])
    )
    text = with_text.readouterr().err
    assert status == 1
    line = next(row for row in text.splitlines() if f"[{expected['code']}" in row)
    if expected["seq"] is not None:
        assert f"(seq {expected['seq']})" in line
    if expected["member"] is not None:
        assert expected["member"] in line


def test_the_cases_cover_every_malformation_the_issue_lists():
    codes = {case[1] for case in CASES.values()}
    assert {
        "json.not_canonical", "json.number", "json.duplicate_key", "json.surrogate", "member.format",
        "member.type", "member.extra", "member.missing", "selection.matched", "selection.matched_seqs",
        "checkpoint.missing", "selection.cut", "record.unanchored",
    } <= codes  # fmt: skip
    assert len(CASES) >= 14


@pytest.mark.parametrize("with_root", [False, True], ids=["embedded-root", "external-root"])
@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_vectors_verify(name, with_root, tmp_path, capsys, root_file):
    status, result = run_cli(tmp_path, capsys, VECTORS[name][0], root_file if with_root else None)
    assert status == 0 and result["ok"] is True, result["problems"]


def test_checked_in_vectors_match_the_generator():
    expected = json.loads((DOCS / "expected.json").read_text())
    assert set(expected) == set(VECTORS)
    for name, (data, expectation) in VECTORS.items():
        assert (DOCS / f"{name}.zip").read_bytes() == data, f"docs/evidence-vectors/{name}.zip is stale"
        assert expected[name] == expectation
    assert (DOCS / "trust-root.json").read_bytes() == trust_root_bytes()


def test_a_line_hashed_as_text_is_not_accepted_even_when_every_signature_is_genuine():
    """The original hole: an escape RFC 8785 would not write, hashed as written, chained and signed."""
    data, _ = VECTORS["non-canonical-escape"]
    report = verify_bundle(data, json.loads(trust_root_bytes()))
    assert not report.ok
    assert "json.not_canonical" in report.codes


def test_v1_bundles_still_verify_and_say_what_they_cannot_prove():
    parts = valid_parts()
    data = build_bundle(
        tenant="acme", created_at=parts.manifest["created_at"],
        records_jsonl=b"".join(line + b"\n" for line in parts.lines), checkpoints=parts.checkpoints,
        trust_root=parts.trust_root, first_seq=1, last_seq=12, record_count=12,
        selection={"filter": dict(EMPTY_FILTER), "matched": 12, "matched_seqs": None}, private_key=KEY,
    )  # fmt: skip
    report = verify_bundle(data, json.loads(trust_root_bytes()))
    assert report.ok, report.problems
    assert report.summary["format"] == "cavra.evidence.bundle/v1"
    assert "cannot be detected" in report.summary["note"]


def test_unknown_format_version_is_refused():
    parts = valid_parts()
    parts.manifest["format"] = "cavra.evidence.bundle/v9"
    from cavra_engine.evidence.vectors import assemble

    report = verify_bundle(assemble(parts))
    assert report.codes == ["manifest.format"]


def _cosign(head: dict, key) -> dict:
    from cavra_engine.evidence.canonical import canonicalize as canon
    from cavra_engine.evidence.verify import COSIGNATURE_TYPE

    body = {
        "type": COSIGNATURE_TYPE,
        "witness_key_id": "key_" + "0" * 24,
        "witnessed_at": "2026-01-01T00:03:00.000000Z",
    }
    return {
        "tree_head": head,
        "cosignature": {**body, "signature": key.sign(canon({"tree_head": head, **body})).hex()},
    }


def test_bundle_checked_against_witness_countersignatures(tmp_path, capsys):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from cavra_engine.evidence.bundle import public_key_raw
    from cavra_engine.evidence.vectors import valid_parts

    witness = Ed25519PrivateKey.generate()
    data, _ = VECTORS["valid-ends-before-latest-head"]
    heads = {c["seq"]: c for c in valid_parts().checkpoints}
    honest = [_cosign(heads[8], witness), _cosign(heads[12], witness)]  # in range, and reached by consistency
    report = verify_bundle(data, witnessed=[(h, witness.public_key()) for h in honest])
    assert report.ok, report.problems

    rewritten = {**heads[8], "root_hash": "ab" * 32}  # what the witness saw before a rewrite
    report = verify_bundle(data, witnessed=[(_cosign(rewritten, witness), witness.public_key())])
    assert report.codes == ["witness.mismatch"] and report.problems[0].seq == 8

    stranger = Ed25519PrivateKey.generate()
    report = verify_bundle(data, witnessed=[(_cosign(heads[8], stranger), witness.public_key())])
    assert report.codes == ["witness.signature"]

    head_file = tmp_path / "witnessed.json"
    head_file.write_text(json.dumps(_cosign(rewritten, witness)))
    bundle = tmp_path / "b.zip"
    bundle.write_bytes(data)
    key_hex = public_key_raw(witness.public_key()).hex()
    assert cli_main(["verify", str(bundle), "--witness", str(head_file), "--witness-key", key_hex]) == 1
    assert "[witness.mismatch]" in capsys.readouterr().err
    assert cli_main(["verify", str(bundle), "--witness", str(head_file), "--witness-key", "zz"]) == 2
