from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from django.core.signals import got_request_exception

        from core.api.exceptions import remember_uncaught_exception

        got_request_exception.connect(remember_uncaught_exception, dispatch_uid="cavra-fail-closed")
