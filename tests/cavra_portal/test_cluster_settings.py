"""Cluster settings: every task on its queue, late acknowledgement, PgBouncer-safe database options."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.conf import settings

from cavra_portal.celery import app

EXPECTED_QUEUES = {
    "approvals.outbox_deliver": "notifications",
    "approvals.outbox_deliver_due": "notifications",
    "approvals.expire_due": "notifications",
    "approvals.escalate_due": "notifications",
    "aispm.refresh_findings": "findings",
    "aispm.refresh_all_findings": "findings",
    "aispm.rollup_tenant_day": "findings",
    "aispm.rollup_all_tenants": "findings",
    "evidence.checkpoint_tenant": "checkpoints",
    "evidence.verify_all_chains": "checkpoints",
    "policies.replay": "checkpoints",
    "evidence.purge_tenant": "retention",
    "evidence.purge_expired": "retention",
}


def _queue_of(name: str) -> str:
    queue = app.amqp.router.route({}, name)["queue"]
    return getattr(queue, "name", queue)


def _project_tasks() -> list[str]:
    app.loader.import_default_modules()
    return sorted(n for n in app.tasks if not n.startswith("celery."))


@pytest.mark.parametrize(("task", "queue"), EXPECTED_QUEUES.items())
def test_tasks_go_to_their_queue(task, queue):
    assert _queue_of(task) == queue


def test_every_project_task_has_a_declared_queue():
    tasks = _project_tasks()
    assert "approvals.outbox_deliver" in tasks
    unrouted = [t for t in tasks if _queue_of(t) not in settings.TASK_QUEUES]
    assert not unrouted, f"tasks without a queue in TASK_QUEUE_BY_NAME: {unrouted}"


def test_a_killed_worker_loses_nothing():
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1


def _settings_in_child(env: dict, expression: str) -> str:
    code = f"import django; django.setup(); from django.conf import settings; print({expression})"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"DJANGO_SETTINGS_MODULE": "cavra_portal.settings", "SECRET_KEY": "x", "PATH": "/usr/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def test_pgbouncer_mode_turns_off_server_side_cursors_and_prepared_statements():
    env = {
        "DATABASE_URL": "postgres://u@127.0.0.1:6432/cavra",
        "DATABASE_REPLICA_URL": "postgres://u@127.0.0.1:6433/cavra",
        "PGBOUNCER": "1",
    }
    out = _settings_in_child(
        env,
        "[(a, d['DISABLE_SERVER_SIDE_CURSORS'], d['OPTIONS']['prepare_threshold']) for a, d in settings.DATABASES.items()]",
    )
    assert out == "[('default', True, None), ('replica', True, None)]"


def test_queue_prefix_keeps_deployments_apart_on_one_broker():
    out = _settings_in_child(
        {"CELERY_QUEUE_PREFIX": "blue."},
        "(settings.CELERY_TASK_ROUTES['evidence.purge*'], settings.CELERY_TASK_DEFAULT_QUEUE)",
    )
    assert out == "({'queue': 'blue.retention'}, 'blue.default')"
