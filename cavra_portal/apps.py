"""App config for the project package (settings, root urls, Celery app, CLI, the demo command)."""

from django.apps import AppConfig


class CavraPortalConfig(AppConfig):
    default = True
    name = "cavra_portal"
    verbose_name = "CAVRA Portal"

    def ready(self) -> None:
        # Makes the Celery app current in every Django process (web, manage.py, tests), so a task sent
        # from the web tier goes to the configured broker, not Celery's default.
        from cavra_portal import celery  # noqa: F401
