"""App configs for the project package and the tenant-aware admin site."""

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class CavraPortalConfig(AppConfig):
    default = True
    name = "cavra_portal"
    verbose_name = "CAVRA Portal"


class CavraAdminConfig(admin_apps.AdminConfig):
    default = False
    default_site = "cavra_portal.admin_site.CavraAdminSite"
