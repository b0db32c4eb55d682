"""Celery tasks of core, imported here so `autodiscover_tasks` registers them in the worker."""

from core.outbox import outbox_deliver, outbox_deliver_due_task

__all__ = ["outbox_deliver", "outbox_deliver_due_task"]
