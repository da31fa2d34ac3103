"""The local mirror of Meisa's do-not-email list, and the state of its refreshes."""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

__all__ = ["SuppressedEmail", "SuppressionRefreshState"]


class SuppressedEmail(models.Model):
    """One address that must not be emailed, stored under its normalized key.

    ``email`` is ``django_meisa.suppression.addresses.canonical_key()`` of the address,
    the same key every lookup computes, so lookups are exact matches on a unique index.
    Rows with source ``meisa`` are owned by the refresh; ``local`` rows are added by
    staff and no refresh ever removes them.

    Each fact about Meisa's list has its own field, and a refresh never rewrites a
    million rows to record that a list still has them:

    - ``withheld_last_listed``, on a ``meisa`` row the latest list left out but whose
      deletion the shrink guard withheld: the ``as_of`` of the last list that had it.
      NULL on every other row; a ``meisa`` row with it and ``reported_at`` NULL was in
      the latest applied list, whose ``as_of`` is on ``SuppressionRefreshState``
      (``last_listed_at`` resolves either).
    - ``meisa_lists_too``, on a ``local`` row: the latest applied list has the address
      too, so deleting the row hands it over to Meisa instead of making it sendable.
    - ``reported_at``: an upsert reported the contact not active (see ``status``).
    """

    class Source(models.TextChoices):
        MEISA = "meisa", _("Meisa")
        LOCAL = "local", _("Local")

    email = models.CharField(
        _("email"),
        max_length=512,
        help_text=_(
            "Exactly one address. Stored as its key: the bare address, lowercased, "
            'IDNA-encoded domain ("Jane <Jane@Example.com>" becomes jane@example.com).'
        ),
    )
    source = models.CharField(
        _("source"),
        max_length=8,
        choices=Source.choices,
        default=Source.MEISA,
        db_default="meisa",  # so a refresh can COPY bare addresses in
    )
    first_seen = models.DateTimeField(
        _("first seen"), default=timezone.now, db_default=Now(), editable=False
    )
    withheld_last_listed = models.DateTimeField(
        _("withheld; last listed as of"),
        null=True,
        blank=True,
        editable=False,
        help_text=_(
            "Meisa rows the latest list left out but the shrink guard kept: the as_of of "
            "the last list that had the address. Empty on every other row."
        ),
    )
    meisa_lists_too = models.BooleanField(
        _("Meisa lists it too"),
        default=False,
        db_default=False,  # so a refresh can COPY bare addresses in
        editable=False,
        help_text=_(
            "Local rows: Meisa's latest list has the address too, so deleting the row "
            "hands it over to Meisa rather than making it sendable."
        ),
    )
    reported_at = models.DateTimeField(
        _("reported by upsert at"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("Suppressed from a contact's upsert status, not yet in Meisa's list."),
    )
    reason = models.CharField(
        _("reason"),
        max_length=200,
        blank=True,
        default="",
        db_default="",
        help_text=_("A contact status (bounced, complained...) or a staff note."),
    )

    class Meta:
        verbose_name = _("suppressed email")
        verbose_name_plural = _("suppressed emails")
        ordering = ["email"]
        permissions = [("refresh_suppressedemail", _("Can refresh the list from Meisa now"))]
        # A constraint rather than unique=True: on PostgreSQL, unique=True also builds a
        # varchar_pattern_ops index that no query here uses and every refresh would pay.
        constraints = [
            models.UniqueConstraint(fields=["email"], name="meisa_suppressed_email_uniq")
        ]

    def __str__(self) -> str:
        return self.email

    def last_listed_at(self, state: SuppressionRefreshState | None) -> dt.datetime | None:
        """The ``as_of`` of the last applied list that had this address, or None when
        that is not known from the row (a local row, a row only reported so far)."""
        if self.source != self.Source.MEISA or self.reported_at is not None:
            return None
        if self.withheld_last_listed is not None:
            return self.withheld_last_listed
        return state.as_of if state is not None else None


class SuppressionRefreshState(models.Model):
    """The one row (pk=1) recording the suppression refreshes and holding their lock.

    ``lease_until``/``lease_owner`` form a cross-host lease taken with one conditional
    UPDATE, so it works on every database; on top of it, the apply transaction locks this
    row (``SELECT ... FOR UPDATE`` where supported).
    """

    SINGLETON_PK = 1

    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True)
    as_of = models.DateTimeField(_("Meisa as_of applied"), null=True, blank=True)
    count = models.PositiveIntegerField(_("count in Meisa's list"), null=True, blank=True)
    last_added = models.PositiveIntegerField(_("added"), default=0)
    last_confirmed_count = models.PositiveIntegerField(
        _("confirmed"),
        default=0,
        help_text=_("Entries of the latest list that were already held."),
    )
    last_removed = models.PositiveIntegerField(_("removed"), default=0)
    withheld = models.PositiveIntegerField(
        _("deletions withheld"),
        default=0,
        help_text=_("Addresses the latest list left out but the shrink guard kept."),
    )
    last_rejected = models.PositiveIntegerField(
        _("entries rejected"),
        default=0,
        help_text=_("Entries of the latest list that are not one storable address: skipped."),
    )
    last_note = models.TextField(
        _("note on the latest refresh"),
        blank=True,
        default="",
        help_text=_("Why the latest applied list was adjusted (e.g. an as_of in the future)."),
    )
    list_digest = models.CharField(max_length=64, blank=True, default="", editable=False)
    last_error = models.TextField(_("last error"), blank=True)
    last_error_at = models.DateTimeField(_("last error at"), null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    lease_owner = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        verbose_name = _("suppression refresh state")
        verbose_name_plural = _("suppression refresh state")

    def __str__(self) -> str:
        return "Suppression refresh state"

    @classmethod
    def load(cls) -> SuppressionRefreshState:
        """Return the state row, creating it on first use."""
        state, _created = cls.objects.get_or_create(pk=cls.SINGLETON_PK)
        return state
