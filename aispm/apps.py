from django.apps import AppConfig


class AispmConfig(AppConfig):
    name = "aispm"
    verbose_name = "AI security posture"

    def ready(self):
        from django.conf import settings

        from aispm.home import HOME_PANELS
        from aispm.navigation import NAV_ITEMS
        from aispm.receivers import findings_on_witness_failure
        from aispm.schedule import BEAT_SCHEDULE
        from aispm.selectors import CAPABILITIES
        from core.authz import register_capabilities
        from core.pages import register_home_panels, register_navigation
        from evidence.signals import witness_publication_failed

        register_capabilities(CAPABILITIES)
        witness_publication_failed.connect(findings_on_witness_failure, dispatch_uid="aispm.witness_failure")

        register_navigation(NAV_ITEMS, order=15)
        register_home_panels(HOME_PANELS)
        schedule = getattr(settings, "CELERY_BEAT_SCHEDULE", None)
        if isinstance(schedule, dict):
            for name, entry in BEAT_SCHEDULE.items():
                schedule.setdefault(name, entry)
