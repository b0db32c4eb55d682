from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class CoreConfig(AppConfig):
    default = True
    name = "core"
    verbose_name = "Core"


class CavraAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the tenant-aware site (listed in INSTALLED_APPS instead of the admin)."""

    default = False
    default_site = "core.admin.CavraAdminSite"
