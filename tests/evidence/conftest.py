"""Evidence fixtures: an auditor of acme signed in."""

from __future__ import annotations

import pytest

from core.roles import Role


@pytest.fixture
def auditor_client(acme, member, client_as):
    return client_as(member(acme, Role.AUDITOR), acme)


@pytest.fixture
def celery_inline():
    """Queued tasks (outbox deliveries) run inline, as in the demo; the worker runs the same code."""
    from cavra_portal.celery import app as celery_app

    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before
