"""Load (idempotently) the demo data of every app: `python manage.py cavra_demo`."""

from importlib import import_module

from django.core.management.base import BaseCommand

from cavra_portal.navigation import NAV_APPS
from tenants.demo import DEMO_PASSWORD, seed_foundation


class Command(BaseCommand):
    help = "Create or refresh the demo tenants, users and each app's demo data (safe to run again)."

    def handle(self, *args, **options):
        tenants = seed_foundation()
        self.stdout.write("Demo tenants: " + ", ".join(sorted(tenants)))
        for app in NAV_APPS:
            if app == "tenants":
                continue
            try:
                module = import_module(f"{app}.demo")
            except ModuleNotFoundError:
                continue
            seed = getattr(module, "seed", None)
            if seed is not None:
                summary = seed(tenants=tenants, stdout=self.stdout)
                self.stdout.write(f"{app}: {summary or 'seeded'}")
        self.stdout.write(
            self.style.SUCCESS(
                "Demo users: ROLE@acme.test and ROLE@globex.test for every role "
                "(e.g. security_reviewer@acme.test), auditor@both.test, admin@cavra.test (superuser). "
                f"Password for all: {DEMO_PASSWORD}"
            )
        )
