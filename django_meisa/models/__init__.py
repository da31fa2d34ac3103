"""django-meisa's models: per-user sync state and the suppression mirror."""

from django_meisa.models.backfill import *  # noqa: F403
from django_meisa.models.deletion import *  # noqa: F403
from django_meisa.models.generation import *  # noqa: F403
from django_meisa.models.suppression import *  # noqa: F403
from django_meisa.models.sync_state import *  # noqa: F403
