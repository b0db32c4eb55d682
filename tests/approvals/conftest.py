"""Approvals run their queued tasks inline, so outbox deliveries land in Django's locmem mailbox."""

from __future__ import annotations

import pytest

from cavra_portal.celery import app as celery_app


@pytest.fixture(autouse=True)
def celery_inline():
    """Run queued tasks inline (the demo mode) so outbox deliveries land in Django's locmem mailbox."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before
