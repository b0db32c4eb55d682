"""Fixtures for core: queued tasks run inline, as in the demo."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _tasks_inline(celery_inline):
    """Every core test runs its queued tasks inline (tests/conftest.py)."""
