"""The example site's Celery app, with the beat schedule django-meisa needs.

Run from the ``example_project/`` directory (next to ``manage.py``)::

    celery -A example_project worker --loglevel=info
    celery -A example_project beat --loglevel=info
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")

app = Celery("example_project")
# Every CELERY_* Django setting configures Celery (CELERY_BROKER_URL -> broker_url, ...).
app.config_from_object("django.conf:settings", namespace="CELERY")
# Finds django_meisa.tasks (and any app's tasks.py) once Django's apps are loaded.
app.autodiscover_tasks()


@app.on_after_configure.connect
def add_meisa_schedule(sender, **kwargs):
    """Schedule django-meisa's two periodic tasks for ``celery beat``.

    Entries of the same name in ``CELERY_BEAT_SCHEDULE`` win, so a settings file can
    retune them (the integration tests shorten both).
    """
    from django_meisa.tasks import suppression_beat_schedule

    meisa_schedule = {
        # Mirror Meisa's do-not-email list every MEISA["SUPPRESSION_REFRESH_INTERVAL"] s.
        **suppression_beat_schedule(),
        # Re-enqueue syncs left pending (broker down at enqueue, retries exhausted).
        "meisa-sweep-pending-syncs": {
            "task": "django_meisa.tasks.sweep_pending_syncs",
            "schedule": 60.0,
        },
    }
    sender.conf.beat_schedule = {**meisa_schedule, **(sender.conf.beat_schedule or {})}
