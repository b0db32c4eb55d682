import pytest

from cavra_portal.celery import app as celery_app


@pytest.fixture(autouse=True)
def celery_inline():
    """Tasks queued on commit run inline (the worker and broker faults are in test_faults.py)."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


@pytest.fixture
def receivers():
    started = []

    def start(receiver):
        started.append(receiver.start())
        return receiver

    yield start
    for receiver in started:
        receiver.stop()
