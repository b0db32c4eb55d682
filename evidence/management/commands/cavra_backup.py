"""`manage.py cavra_backup --output DIR`: database dump, passphrase-sealed signing keys, expected heads."""

import os

from django.core.management.base import BaseCommand, CommandError

from evidence.services.backup import backup_create
from evidence.services.common import EvidenceError


class Command(BaseCommand):
    help = "Back up the database (pg_dump -Fc) and the signing keys (sealed with CAVRA_BACKUP_PASSPHRASE)."

    def add_arguments(self, parser):
        parser.add_argument("--output", required=True, help="a new or empty directory")

    def handle(self, *args, **opts):
        passphrase = os.environ.get("CAVRA_BACKUP_PASSPHRASE", "")
        if not passphrase:
            raise CommandError("set CAVRA_BACKUP_PASSPHRASE (it seals the signing keys in the backup)")
        try:
            manifest = backup_create(output=opts["output"], passphrase=passphrase)
        except EvidenceError as exc:
            raise CommandError(str(exc))
        for head in manifest["heads"]:
            self.stdout.write(f"{head['tenant']}: head #{head['seq']} {head['head_hash'][:16]}…")
        self.stdout.write(f"backup written to {opts['output']}")
