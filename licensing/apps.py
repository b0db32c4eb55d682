from django.apps import AppConfig


class LicensingConfig(AppConfig):
    name = "licensing"
    verbose_name = "Licensing"

    def ready(self):
        from core.authz import register_capabilities
        from core.pages import register_navigation
        from core.roles import Role

        # Tenant admins read the installation's licence; only a platform admin (superuser) replaces it
        # (licensing.services.licence_upload), since one licence covers every tenant.
        register_capabilities({"licensing.view": {Role.TENANT_ADMIN}})
        register_navigation([("Licence", "licensing:status", "licensing.view")], order=95)
