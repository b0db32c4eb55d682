"""The project package. Its Celery app becomes the current app in every Django process through
CavraPortalConfig.ready() (Celery's Django pattern), not here: `cavra` (cavra_portal.cli) imports this
package, and an agent's hook must start without loading Celery (~0.3 s)."""


def __getattr__(name: str):
    if name == "celery_app":  # `cavra_portal.celery_app`, as Celery's Django pattern names it
        from cavra_portal.celery import app

        return app
    raise AttributeError(f"module 'cavra_portal' has no attribute {name!r}")
