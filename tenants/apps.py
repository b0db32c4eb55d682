from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants and members"

    def ready(self):
        from core.audit import register_audit_writer
        from core.pages import register_home_panels, register_navigation
        from core.secrets import register_encrypted_field
        from tenants import signals  # noqa: F401
        from tenants.audit import record_audit
        from tenants.home import HOME_PANELS
        from tenants.navigation import NAV_ITEMS

        register_audit_writer(record_audit)
        register_encrypted_field("tenants.SsoProvider", "client_secret_encrypted")  # rotate_secret_keys
        register_navigation(NAV_ITEMS, order=10)
        register_home_panels(HOME_PANELS)
