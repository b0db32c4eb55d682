"""Fixtures for core: queued tasks run inline, as in the demo."""

from __future__ import annotations

import pytest

from cavra_portal.celery import app as celery_app


@pytest.fixture(autouse=True)
def celery_inline():
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before
