"""`manage.py cavra_doctor`: readiness checks; exit status 1 when any check fails (for monitoring)."""

from django.core.management.base import BaseCommand

from evidence.services.doctor import doctor_run


class Command(BaseCommand):
    help = "Check database, Redis, Celery, keys, tree heads, SMTP, backups and deploy settings; print fixes."

    def handle(self, *args, **opts):
        checks = doctor_run()
        for check in checks:
            self.stdout.write(str(check))
        failed = [c for c in checks if c.status == "FAIL"]
        self.stdout.write(f"{len(checks)} checks: {len(failed)} failed, "
                          f"{sum(c.status == 'WARN' for c in checks)} warnings")  # fmt: skip
        if failed:
            raise SystemExit(1)
