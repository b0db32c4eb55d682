"""The project package. Loading the Celery app here (Celery's Django pattern) makes it the current app
in every process, so a task sent from the web tier goes to the configured broker, not Celery's default."""

from cavra_portal.celery import app as celery_app

__all__ = ["celery_app"]
