from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Agent and MCP registry"

    def ready(self):
        from core.pages import register_home_panels, register_navigation
        from registry.home import HOME_PANELS
        from registry.navigation import NAV_ITEMS

        register_navigation(NAV_ITEMS, order=40)
        register_home_panels(HOME_PANELS)
