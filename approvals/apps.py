from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Approvals"

    def ready(self):
        from approvals.home import HOME_PANELS
        from approvals.navigation import NAV_ITEMS
        from core.pages import register_home_panels, register_navigation

        register_navigation(NAV_ITEMS, order=30)
        register_home_panels(HOME_PANELS)
