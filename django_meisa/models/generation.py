"""The suppression mirror's generation: a token every write to ``SuppressedEmail`` replaces."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = ["SuppressionGeneration"]


class SuppressionGeneration(models.Model):
    """One row (pk=1) whose ``token`` changes in the transaction of every mirror write.

    The email backend's in-process negative cache (``suppression/negative_cache.py``)
    is valid only while the token it was built under is current. The token is random,
    never incremented, so a rolled-back write or a recreated row can't bring back a value
    some process already built a cache for.
    """

    SINGLETON_PK = 1

    token = models.BigIntegerField(_("token"))

    class Meta:
        verbose_name = _("suppression generation")
        verbose_name_plural = _("suppression generation")

    def __str__(self) -> str:
        return f"Suppression generation {self.token}"
