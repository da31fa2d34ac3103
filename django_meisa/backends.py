"""Public dotted path of the email backend: django_meisa.backends.SuppressionEmailBackend."""

from __future__ import annotations

from django_meisa.suppression.backend import SuppressionEmailBackend

__all__ = ["SuppressionEmailBackend"]
