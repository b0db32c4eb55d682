"""The Celery application: `celery -A cavra_portal worker` and `celery -A cavra_portal beat`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cavra_portal.settings")

app = Celery("cavra_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
