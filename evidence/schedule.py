"""The evidence app's periodic tasks (merged into the Celery beat schedule at start-up)."""

BEAT_SCHEDULE = {
    "evidence: checkpoint grown chains": {"task": "evidence.checkpoint_grown_chains", "schedule": 60.0},
    "evidence: verify every chain": {"task": "evidence.verify_all_chains", "schedule": 3600.0},
    "evidence: retention purge": {"task": "evidence.purge_expired", "schedule": 86400.0},
}
