"""The vendor CLI: `manage.py cavra_license keygen / issue / verify`, and the portal trusting its output."""

from __future__ import annotations

import io
import json
import os

import pytest
from django.core.management import CommandError, call_command

from licensing.editions import EDITIONS, FEATURES, SUPPORT


def _run(*args) -> tuple[str, int]:
    out = io.StringIO()
    try:
        call_command("cavra_license", *args, stdout=out, stderr=io.StringIO())
    except SystemExit as exc:
        return out.getvalue(), exc.code
    return out.getvalue(), 0


@pytest.fixture
def vendor(tmp_path):
    key = tmp_path / "vendor.key"
    out, code = _run("keygen", "--out", str(key))
    public = out.split("public key:", 1)[1].split()[0]
    return key, public


def test_keygen_writes_a_private_key_only_the_owner_reads_and_never_overwrites(vendor):
    key, public = vendor
    assert oct(os.stat(key).st_mode & 0o777) == "0o600" and len(public) == 64
    with pytest.raises(CommandError, match="never overwritten"):
        _run("keygen", "--out", str(key))


def test_issue_then_verify(vendor, tmp_path):
    key, public = vendor
    licence = tmp_path / "acme.json"
    _run("issue", "--key", str(key), "--licensee", "Acme Corp", "--edition", "enterprise", "--seats", "25",
         "--expires", "2099-12-31", "--licence-id", "lic_acme2099", "--out", str(licence))  # fmt: skip
    document = json.loads(licence.read_text())
    assert document["payload"]["seats"] == 25 and document["format"] == "cavra-licence/1"
    out, code = _run("verify", str(licence), "--public-key", public)
    assert code == 0 and "state: active" in out and "edition: enterprise" in out and "seats: 25" in out


def test_verify_fails_on_a_tampered_file_a_wrong_key_and_an_expired_licence(vendor, tmp_path):
    key, public = vendor
    licence = tmp_path / "l.json"
    _run("issue", "--key", str(key), "--licensee", "Acme", "--edition", "business", "--issued", "2020-01-01",
         "--expires", "2099-01-01", "--out", str(licence))  # fmt: skip
    out, code = _run("verify", str(licence))  # the built-in vendor key did not sign it
    assert code == 1 and "state: unknown" in out and "not a trusted vendor key" in out
    licence.write_text(licence.read_text().replace('"Acme"', '"Acme Global"'))
    out, code = _run("verify", str(licence), "--public-key", public)
    assert code == 1 and "signature does not match" in out
    _run("issue", "--key", str(key), "--licensee", "Acme", "--edition", "trial", "--issued", "2020-01-01",
         "--expires", "2020-02-01", "--out", str(licence))  # fmt: skip
    out, code = _run("verify", str(licence), "--public-key", public)
    assert code == 1 and "state: expired" in out


def test_issue_refuses_bad_input_naming_it(vendor):
    key, _ = vendor
    with pytest.raises(CommandError, match="--expires"):
        _run("issue", "--key", str(key), "--licensee", "A", "--edition", "business", "--expires", "soon")
    with pytest.raises(CommandError, match="seats"):
        _run(
            "issue",
            "--key",
            str(key),
            "--licensee",
            "A",
            "--edition",
            "business",
            "--seats",
            "0",
            "--expires",
            "2099-01-01",
        )
    with pytest.raises(CommandError, match="--key"):
        _run(
            "issue",
            "--key",
            "/nonexistent",
            "--licensee",
            "A",
            "--edition",
            "business",
            "--expires",
            "2099-01-01",
        )


def test_the_docs_show_the_edition_table_of_the_code():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "entitlements.md").read_text(encoding="utf-8")
    section = text.split("## What each edition unlocks", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    assert [h.lower() for h in header[2:]] == list(EDITIONS)
    documented = {}
    for row in rows[1:]:  # the |---| line does not start with "| "
        cells = [c.strip() for c in row.strip("|").split("|")]
        documented[cells[0].strip("`")] = cells[2:]
    expected = {f.key: ["✓" if e in f.editions else "—" for e in EDITIONS] for f in FEATURES}
    expected["support"] = [SUPPORT[e] for e in EDITIONS]
    assert documented == expected
