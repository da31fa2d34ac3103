"""The example site's settings, tuned for the integration suite's clock.

Workers, beat and the test's Django shell all load this module (through
``DJANGO_SETTINGS_MODULE``), so they share one configuration: the example project's,
with the schedule and sweep delays shortened from ``IT_*`` environment variables.
"""

import os

from example_project.settings import *  # noqa: F403
from example_project.settings import MEISA

MEISA = {
    **MEISA,
    # A pending sync older than this is re-enqueued by the sweep (seconds).
    "SWEEP_AFTER": float(os.environ.get("IT_SWEEP_AFTER", "3")),
    "SYNC_RETRY_BACKOFF": 0.5,
    "SYNC_RETRY_BACKOFF_MAX": 4.0,
    "SYNC_RETRY_AFTER_MAX": 5.0,
    "TIMEOUT": (2.0, float(os.environ.get("IT_READ_TIMEOUT", "3"))),
    "SYNC_LEASE_TIMEOUT": float(os.environ.get("IT_LEASE_TIMEOUT", "8")),
    "SUPPRESSION_REFRESH_INTERVAL": float(os.environ.get("IT_REFRESH_EVERY", "2")),
}

# Same-named entries override the example's beat schedule (see example_project/celery.py);
# the suppression refresh already follows SUPPRESSION_REFRESH_INTERVAL above.
CELERY_BEAT_SCHEDULE = {
    "meisa-sweep-pending-syncs": {
        "task": "django_meisa.tasks.sweep_pending_syncs",
        "schedule": float(os.environ.get("IT_SWEEP_EVERY", "2")),
    },
}
# Let a dead broker fail fast on the request path (the sweep recovers the change).
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 2}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
