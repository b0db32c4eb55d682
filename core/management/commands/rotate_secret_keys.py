"""Re-encrypt every stored secret with the first key of CAVRA_SECRET_KEYS (key rotation)."""

from django.core.management.base import BaseCommand, CommandError

from core.secrets import SecretUnreadable, secrets_rotate


class Command(BaseCommand):
    help = "Re-encrypt stored secrets (connector tokens, SSO client secrets) with the first key of CAVRA_SECRET_KEYS."

    def handle(self, *args, **options):
        try:
            counts = secrets_rotate()
        except SecretUnreadable as exc:
            raise CommandError(str(exc)) from exc
        for field, count in counts.items():
            self.stdout.write(f"{field}: {count} re-encrypted")
        self.stdout.write(self.style.SUCCESS("done"))
