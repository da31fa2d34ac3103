"""``AbstractUser`` with a UUID primary key: what many sites switch to."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models


class UUIDUser(AbstractUser):
    """Django's user, keyed by a random UUID instead of an integer."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
