"""Deleted users' final upserts, kept until sent: the user row is gone when a worker runs."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

__all__ = ["PendingDeletion"]


class PendingDeletion(models.Model):
    """What the final "account deleted" upsert of one deleted user needs.

    Written in the delete's own transaction (a rolled-back delete leaves none) when
    ``MEISA["DELETED_USER_TAG"]`` is set, and deleted once Meisa accepted the upsert,
    so the address is kept no longer than needed. Task arguments carry only ``pk``.
    """

    user_pk = models.CharField(_("deleted user's pk"), max_length=64)
    email = models.CharField(_("email"), max_length=512)
    external_id = models.CharField(_("external id"), max_length=255, blank=True)
    contact_id = models.CharField(_("Meisa contact id"), max_length=64, blank=True)
    tag = models.CharField(_("tag to add"), max_length=200)
    created_at = models.DateTimeField(_("deleted at"), default=timezone.now, db_index=True)
    attempts = models.PositiveIntegerField(_("failed attempts"), default=0)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        verbose_name = _("pending deletion upsert")
        verbose_name_plural = _("pending deletion upserts")

    def __str__(self) -> str:
        return f"Final upsert of deleted user {self.user_pk}"
