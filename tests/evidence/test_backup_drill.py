"""The backup/restore drill: back up a live database, restore it into a fresh one on a "host" with
another SECRET_KEY, verify every chain and tree head, then keep appending to the same chain and tree."""

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import transaction

from evidence.services import checkpoint_create, evidence_append

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "correct horse battery staple"

CONTINUE = """
import json
from django.db import transaction
from evidence.models import ChainHead, Checkpoint
from evidence.services import chain_verify, checkpoint_create, evidence_append, merkle_root
from tenants.models import Tenant
out = {}
for tenant in Tenant.objects.order_by("slug"):
    before = Checkpoint.objects.filter(tenant=tenant).exclude(root_hash="").order_by("-seq").first()
    with transaction.atomic():
        evidence_append(tenant=tenant, kind="decision.recorded", subject="dec_after_restore", payload={"after": True})
    head = checkpoint_create(tenant=tenant)
    run = chain_verify(tenant=tenant)
    out[tenant.slug] = {"ok": run.ok, "seq": head.seq, "root_ok": head.root_hash == merkle_root(tenant=tenant, size=head.seq).hex(),
                        "signed_before": before.seq if before else None}
print(json.dumps(out))
"""


def _db_url(name: str) -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db.get('USER') or 'postgres'}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{name}"


def _manage(args, database: str, *, code: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": _db_url(database), "SECRET_KEY": "another-host-another-secret-key-0123456789",
           "EVIDENCE_KEY_ENCRYPTION_KEY": "", "CAVRA_BACKUP_PASSPHRASE": PASSPHRASE,
           "DJANGO_SETTINGS_MODULE": "cavra_portal.settings", "CAVRA_DEMO": "0"}  # fmt: skip
    command = [sys.executable, str(ROOT / "manage.py"), *args] + (["-c", code] if code else [])
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.fixture
def fresh_database():
    name = f"{settings.DATABASES['default']['NAME']}_restore"
    admin = _db_url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.django_db(transaction=True)
def test_backup_restores_into_a_fresh_database_and_the_chain_and_tree_continue(
    acme, globex, tmp_path, fresh_database, monkeypatch
):
    for tenant, count in ((acme, 7), (globex, 4)):
        with transaction.atomic():
            for i in range(count):
                evidence_append(tenant=tenant, kind="decision.recorded", subject=f"dec_{i}", payload={"i": i})
        checkpoint_create(tenant=tenant)
    monkeypatch.setenv("CAVRA_BACKUP_PASSPHRASE", PASSPHRASE)
    call_command("cavra_backup", output=str(tmp_path / "backup"))
    manifest = json.loads((tmp_path / "backup" / "backup.json").read_text())
    assert {h["tenant"] for h in manifest["heads"]} >= {"acme", "globex"}
    assert PASSPHRASE not in (tmp_path / "backup" / "signing-keys.json").read_text()

    restored = _manage(["cavra_restore", "--input", str(tmp_path / "backup")], fresh_database)
    assert restored.returncode == 0, restored.stderr + restored.stdout
    assert "acme: chain verified; head #" in restored.stdout and "root matches" in restored.stdout
    assert "restore verified" in restored.stdout

    again = _manage(["cavra_restore", "--input", str(tmp_path / "backup")], fresh_database)
    assert again.returncode != 0 and "empty database" in again.stderr

    continued = _manage(["shell"], fresh_database, code=CONTINUE)
    assert continued.returncode == 0, continued.stderr
    result = json.loads(continued.stdout.strip().splitlines()[-1])
    for slug in ("acme", "globex"):
        assert result[slug]["ok"] and result[slug]["root_ok"], result
        assert result[slug]["seq"] > result[slug]["signed_before"]  # new decisions extend the same tree


@pytest.mark.django_db(transaction=True)
def test_restore_refuses_a_wrong_passphrase_and_a_damaged_dump(acme, tmp_path, fresh_database, monkeypatch):
    with transaction.atomic():
        evidence_append(tenant=acme, kind="decision.recorded", subject="dec_1", payload={})
    checkpoint_create(tenant=acme)
    monkeypatch.setenv("CAVRA_BACKUP_PASSPHRASE", PASSPHRASE)
    call_command("cavra_backup", output=str(tmp_path / "b"))
    env_backup = os.environ["CAVRA_BACKUP_PASSPHRASE"]
    try:
        os.environ["CAVRA_BACKUP_PASSPHRASE"] = "not the passphrase at all"
        wrong = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "cavra_restore", "--input", str(tmp_path / "b")],
            env={**os.environ, "DATABASE_URL": _db_url(fresh_database), "SECRET_KEY": "x" * 40, "CAVRA_DEMO": "0"},
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        os.environ["CAVRA_BACKUP_PASSPHRASE"] = env_backup
    assert wrong.returncode != 0 and "wrong passphrase" in wrong.stderr
    dump = tmp_path / "b" / "database.dump"
    dump.write_bytes(dump.read_bytes()[:-10])
    damaged = _manage(["cavra_restore", "--input", str(tmp_path / "b")], fresh_database)
    assert damaged.returncode != 0 and "differs from the backup manifest" in damaged.stderr
