"""django-meisa's public signals. Receivers live in ``receivers.py``."""

from __future__ import annotations

from django.dispatch import Signal
