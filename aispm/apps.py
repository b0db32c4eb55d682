from django.apps import AppConfig


class AispmConfig(AppConfig):
    name = "aispm"
    verbose_name = "AI security posture"

    def ready(self):
        from django.conf import settings

        from aispm.home import HOME_PANELS
        from aispm.navigation import NAV_ITEMS
        from aispm.schedule import BEAT_SCHEDULE
        from aispm.selectors import CAPABILITIES
        from core.authz import register_capabilities
        from core.pages import register_home_panels, register_navigation

        register_capabilities(CAPABILITIES)

        register_navigation(NAV_ITEMS, order=15)
        register_home_panels(HOME_PANELS)
        schedule = getattr(settings, "CELERY_BEAT_SCHEDULE", None)
        if isinstance(schedule, dict):
            for name, entry in BEAT_SCHEDULE.items():
                schedule.setdefault(name, entry)
