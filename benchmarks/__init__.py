"""django-meisa's benchmarks: measured against the practical limit, side by side, in one run."""

# The Django-project idiom: importing the settings package loads the Celery app, so
# shared tasks publish to the benchmarks' Redis broker in every process (commands too).
from benchmarks.celery_app import app as celery_app

__all__ = ["celery_app"]
