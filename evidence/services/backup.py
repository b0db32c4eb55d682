"""Backup and restore of the portal: a pg_dump of the database, the signing keys re-sealed under a
passphrase (so a restore works on a host with another SECRET_KEY), and the heads it must come back with."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from evidence.models import ChainHead, Checkpoint, SigningKey
from evidence.services.common import EvidenceError, utc_timestamp
from evidence.services.merkle import merkle_root
from evidence.services.verification import chain_verify
from evidence.signing import decrypt_private_key, encrypt_private_key
from tenants.models import Tenant

FORMAT = "cavra.backup/v1"
FILES = ("database.dump", "signing-keys.json")
SCRYPT = {"n": 2**15, "r": 8, "p": 1}


def _pg_env() -> tuple[dict, str]:
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        raise EvidenceError("backups need PostgreSQL (pg_dump / pg_restore)")
    env = {**os.environ, "PGHOST": db.get("HOST") or "127.0.0.1", "PGPORT": str(db.get("PORT") or 5432),
           "PGUSER": db.get("USER") or "postgres"}  # fmt: skip
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    return env, db["NAME"]


def _kdf(passphrase: str, salt: bytes) -> bytes:
    if len(passphrase) < 12:
        raise EvidenceError("the backup passphrase must have at least 12 characters")
    return Scrypt(salt=salt, length=32, **SCRYPT).derive(passphrase.encode("utf-8"))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _heads() -> list[dict]:
    heads = []
    for head in ChainHead.objects.select_related("tenant").order_by("tenant_id"):
        latest = Checkpoint.objects.filter(tenant=head.tenant).exclude(root_hash="").order_by("-seq").first()
        heads.append({
            "tenant": head.tenant.slug, "seq": head.seq, "head_hash": head.head_hash,
            "tree_head": {"seq": latest.seq, "root_hash": latest.root_hash} if latest else None,
        })  # fmt: skip
    return heads


def backup_create(*, output: Path, passphrase: str) -> dict:
    """Write database.dump, signing-keys.json and backup.json into `output` (a new or empty directory)."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    if any(output.iterdir()):
        raise EvidenceError(f"{output} is not empty")
    env, name = _pg_env()
    salt = os.urandom(16)
    sealer = AESGCM(_kdf(passphrase, salt))
    with transaction.atomic():  # one snapshot for the keys and the heads written into the manifest
        keys = []
        for key in SigningKey.objects.order_by("pk"):
            raw = decrypt_private_key(key.private_key_encrypted, key_id=key.key_id).private_bytes(
                Encoding.Raw, PrivateFormat.Raw, NoEncryption()
            )
            nonce = os.urandom(12)
            sealed = sealer.encrypt(nonce, raw, key.key_id.encode("ascii"))
            keys.append({"key_id": key.key_id, "sealed": base64.b64encode(nonce + sealed).decode("ascii")})
        heads = _heads()
    nonce = os.urandom(12)
    check = base64.b64encode(nonce + sealer.encrypt(nonce, b"cavra-backup", b"check")).decode("ascii")
    (output / "signing-keys.json").write_text(json.dumps({
        "kdf": {"name": "scrypt", "salt": salt.hex(), **SCRYPT}, "cipher": "AES-256-GCM", "check": check, "keys": keys,
    }, indent=2))  # fmt: skip
    subprocess.run(["pg_dump", "--format=custom", "--no-owner", f"--file={output / 'database.dump'}", name],
                   env=env, check=True, capture_output=True)  # fmt: skip
    manifest = {
        "format": FORMAT, "created_at": utc_timestamp(timezone.now()), "database": name,
        "files": {f: {"sha256": _sha256(output / f), "bytes": (output / f).stat().st_size} for f in FILES},
        "heads": heads,
    }  # fmt: skip
    (output / "backup.json").write_text(json.dumps(manifest, indent=2))
    return manifest


@dataclass
class RestoreResult:
    ok: bool
    lines: list[str]


def backup_restore(*, source: Path, passphrase: str) -> RestoreResult:
    """Restore into the configured database, which must be empty; re-seal the keys for this host; then
    verify every tenant's chain and compare its head and latest tree head with the backup's manifest."""
    source = Path(source)
    manifest = json.loads((source / "backup.json").read_text())
    if manifest.get("format") != FORMAT:
        raise EvidenceError(f"{source / 'backup.json'} is not a {FORMAT} manifest")
    for name, expected in manifest["files"].items():
        if _sha256(source / name) != expected["sha256"]:
            raise EvidenceError(f"{name} differs from the backup manifest (damaged or altered)")
    sealed = json.loads((source / "signing-keys.json").read_text())
    opener = AESGCM(_kdf(passphrase, bytes.fromhex(sealed["kdf"]["salt"])))
    try:
        check = base64.b64decode(sealed["check"])
        opener.decrypt(check[:12], check[12:], b"check")  # fails on a wrong passphrase even with no keys
        raw_keys = {
            k["key_id"]: opener.decrypt(base64.b64decode(k["sealed"])[:12], base64.b64decode(k["sealed"])[12:],
                                        k["key_id"].encode("ascii"))
            for k in sealed["keys"]
        }  # fmt: skip
    except Exception as exc:  # InvalidTag: wrong passphrase or altered file
        raise EvidenceError("cannot open signing-keys.json: wrong passphrase or altered file") from exc
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        if cursor.fetchone()[0]:
            raise EvidenceError("restore needs an empty database (create it with createdb, then restore)")
    env, name = _pg_env()
    connection.close()
    result = subprocess.run(
        ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", f"--dbname={name}",
         str(source / "database.dump")], env=env, capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode:
        raise EvidenceError(f"pg_restore failed: {result.stderr.strip()[:500]}")
    for key in SigningKey.objects.all():
        if key.key_id not in raw_keys:
            raise EvidenceError(f"signing key {key.key_id} is missing from signing-keys.json")
        private = Ed25519PrivateKey.from_private_bytes(raw_keys[key.key_id])
        SigningKey.objects.filter(pk=key.pk).update(
            private_key_encrypted=encrypt_private_key(private, key_id=key.key_id)
        )
    lines, ok = [], True
    for expected in manifest["heads"]:
        tenant = Tenant.objects.get(slug=expected["tenant"])
        head = ChainHead.objects.get(tenant=tenant)
        run = chain_verify(tenant=tenant, trigger="on_demand")
        same_head = (head.seq, head.head_hash) == (expected["seq"], expected["head_hash"])
        tree = expected["tree_head"]
        same_tree = tree is None or merkle_root(tenant=tenant, size=tree["seq"]).hex() == tree["root_hash"]
        ok = ok and run.ok and same_head and same_tree
        lines.append(
            f"{tenant.slug}: chain {'verified' if run.ok else 'FAILED: ' + run.summary}; head #{head.seq} "
            f"{'matches' if same_head else 'DIFFERS from'} the backup; tree head "
            f"{'none' if tree is None else ('#' + str(tree['seq']) + (' root matches' if same_tree else ' root DIFFERS'))}"
        )
    return RestoreResult(ok, lines)
