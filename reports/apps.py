from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Reports"

    def ready(self):
        from aispm.services.readiness import register_readiness_item
        from core.authz import register_capabilities
        from core.outbox import register_outbox_transport
        from core.pages import register_navigation
        from reports import checks, tasks  # noqa: F401 - registers the posture check and the beat task
        from reports.capabilities import CAPABILITIES, VIEW_ARCHIVE
        from reports.readiness import ITEM_ID, report_delivered
        from reports.services.deliveries import report_email_transport

        register_capabilities(CAPABILITIES)
        register_navigation([("Reports", "reports:archive", VIEW_ARCHIVE)], order=18)
        register_outbox_transport("report", report_email_transport)
        register_readiness_item(ITEM_ID, report_delivered)
