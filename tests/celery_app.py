"""The test suite's Celery app, configured from Django settings the way a site's is."""

from __future__ import annotations

from celery import Celery

app = Celery("django_meisa_tests")
app.config_from_object("django.conf:settings", namespace="CELERY")
# shared_task (django_meisa.tasks) binds to the default app.
app.set_default()
app.autodiscover_tasks(["django_meisa"], force=True)
# The memory transport polls once a second by default; the tests wait on the worker.
app.conf.broker_transport_options = {"polling_interval": 0.01}
