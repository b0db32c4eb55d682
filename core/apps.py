from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class CoreConfig(AppConfig):
    default = True
    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from django.core.signals import got_request_exception

        from core.api.exceptions import remember_uncaught_exception

        got_request_exception.connect(remember_uncaught_exception, dispatch_uid="cavra-fail-closed")


class CavraAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the tenant-aware site (listed in INSTALLED_APPS instead of the admin)."""

    default = False
    default_site = "core.admin.CavraAdminSite"
