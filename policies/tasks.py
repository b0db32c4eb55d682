"""Celery tasks of policies, imported here so the worker finds them: shadow replays."""

from __future__ import annotations

from policies.services.replay import policy_replay_task

__all__ = ["policy_replay_task"]
