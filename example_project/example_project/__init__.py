"""The example site: loads the Celery app so that shared tasks bind to it."""

from example_project.celery import app as celery_app

__all__ = ["celery_app"]
