"""Celery tasks of policies: shadow replays. Tasks take ids and call a service."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="policies.replay")
def policy_replay_task(replay_id: int) -> int:
    from policies.services.replay import policy_replay_run

    return policy_replay_run(replay_id=replay_id).changed_count
