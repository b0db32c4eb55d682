from django.apps import AppConfig


class EvidenceConfig(AppConfig):
    name = "evidence"
    verbose_name = "Evidence"

    def ready(self):
        from django.conf import settings

        from core.metrics import register_scrape_collector
        from core.outbox import register_outbox_transport
        from core.pages import register_home_panels, register_navigation
        from evidence.home import HOME_PANELS
        from evidence.metrics import BACKLOG_COLLECTOR
        from evidence.navigation import NAV_ITEMS
        from evidence.schedule import BEAT_SCHEDULE
        from evidence.services import evidence_audit_sink
        from evidence.services.anchoring import s3_anchor_deliver
        from evidence.services.witnesses import witness_publication_deliver
        from tenants.audit import register_audit_sink

        register_audit_sink(evidence_audit_sink)
        register_outbox_transport("witness", witness_publication_deliver)
        register_outbox_transport("anchor", s3_anchor_deliver)
        register_navigation(NAV_ITEMS, order=50)
        register_home_panels(HOME_PANELS)
        register_scrape_collector(BACKLOG_COLLECTOR)
        # Beat reads CELERY_BEAT_SCHEDULE (DatabaseScheduler syncs it into django-celery-beat rows).
        schedule = getattr(settings, "CELERY_BEAT_SCHEDULE", None)
        if isinstance(schedule, dict):
            for name, entry in BEAT_SCHEDULE.items():
                schedule.setdefault(name, entry)
