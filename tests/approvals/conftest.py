"""Approvals run their queued tasks inline, so outbox deliveries land in Django's locmem mailbox."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _tasks_inline(celery_inline):
    """Every approvals test runs its queued tasks inline (tests/conftest.py)."""
