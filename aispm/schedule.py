"""The AISPM app's periodic tasks (merged into the Celery beat schedule at start-up)."""

BEAT_SCHEDULE = {
    "aispm: refresh findings": {"task": "aispm.refresh_all_findings", "schedule": 900.0},
    "aispm: roll up today and yesterday": {"task": "aispm.rollup_all_tenants", "schedule": 600.0},
}
