"""App config for the project package (settings, root urls, Celery app, CLI, the demo command)."""

from django.apps import AppConfig


class CavraPortalConfig(AppConfig):
    default = True
    name = "cavra_portal"
    verbose_name = "CAVRA Portal"
