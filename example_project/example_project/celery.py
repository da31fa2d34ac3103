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

    The suppression refresh runs every ``MEISA["SUPPRESSION_REFRESH_INTERVAL"]`` seconds,
    the sweep of pending syncs every minute. Entries of the same name in
    ``CELERY_BEAT_SCHEDULE`` win, so a settings file can retune them.
    """
    from django_meisa.tasks import suppression_beat_schedule, sync_beat_schedule

    sender.conf.beat_schedule = {
        **suppression_beat_schedule(),
        **sync_beat_schedule(60),
        **(sender.conf.beat_schedule or {}),
    }
