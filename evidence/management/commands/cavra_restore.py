"""`manage.py cavra_restore --input DIR`: restore into an empty database, re-seal keys, verify every chain."""

import os

from django.core.management.base import BaseCommand, CommandError

from evidence.services.backup import backup_restore
from evidence.services.common import EvidenceError


class Command(BaseCommand):
    help = "Restore a cavra_backup into the (empty) configured database and verify every tenant's chain."

    def add_arguments(self, parser):
        parser.add_argument("--input", required=True, help="the backup directory")

    def handle(self, *args, **opts):
        passphrase = os.environ.get("CAVRA_BACKUP_PASSPHRASE", "")
        if not passphrase:
            raise CommandError("set CAVRA_BACKUP_PASSPHRASE (it opens the signing keys in the backup)")
        try:
            result = backup_restore(source=opts["input"], passphrase=passphrase)
        except EvidenceError as exc:
            raise CommandError(str(exc))
        for line in result.lines:
            self.stdout.write(line)
        if not result.ok:
            raise CommandError("restore finished but verification FAILED (see above)")
        self.stdout.write("restore verified")
