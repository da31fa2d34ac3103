"""Per-user contact sync state: what is pending, what was sent, and who holds the lease."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

__all__ = ["MeisaSyncResult", "UserSyncState"]


class MeisaSyncResult(models.TextChoices):
    """What the last sync attempt for a user did (``UserSyncState.last_result``)."""

    SYNCED = "synced"
    UNCHANGED = "unchanged"
    UP_TO_DATE = "up_to_date"
    SKIPPED_NO_EMAIL = "skipped_no_email"
    SKIPPED_DELETED = "skipped_deleted"
    #: ``SYNC_USERS_FILTER`` / ``SHOULD_SYNC_USER`` leave the user out: nothing sent.
    SKIPPED_INELIGIBLE = "skipped_ineligible"
    #: Synced, and Meisa answered with another contact id than before (kept in
    #: ``previous_contact_id``): an email change re-keyed it, or two users share one.
    CONTACT_CHANGED = "contact_changed"
    FAILED_RETRYABLE = "failed_retryable"
    FAILED_PERMANENT = "failed_permanent"
    BUSY = "busy"
    DISABLED = "disabled"


class UserSyncStateQuerySet(models.QuerySet["UserSyncState"]):
    """``pending()``: the rows ``UserSyncState.is_pending`` is true of, in SQL."""

    def pending(self) -> UserSyncStateQuerySet:
        """Rows whose requested version is neither handled nor failed."""
        return self.filter(version__gt=F("synced_version")).exclude(failed_version=F("version"))


class UserSyncState(models.Model):
    """One row per user: the ordering counters, the last sync and the sync lease.

    Each request bumps ``version``; ``synced_version`` is the highest one handled, and
    ``failed_version`` one that failed for good. Columns have database defaults because
    the request path inserts rows with one raw SQL statement.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="meisa_sync_state",
        verbose_name=_("user"),
    )
    version = models.PositiveBigIntegerField(_("requested version"), default=0, db_default=0)
    synced_version = models.PositiveBigIntegerField(_("handled version"), default=0, db_default=0)
    failed_version = models.PositiveBigIntegerField(_("failed version"), null=True, blank=True)
    signup_pending = models.BooleanField(
        _("signup pending"),
        default=False,
        db_default=False,
        help_text=_("The first sync of a new user is sent with source 'signup'."),
    )
    login_pending = models.BooleanField(
        _("login pending"),
        default=False,
        db_default=False,
        help_text=_("A login asked for an upsert even if nothing mapped changed."),
    )
    requested_at = models.DateTimeField(_("last requested"), null=True, blank=True)
    pending_since = models.DateTimeField(_("pending since"), null=True, blank=True, db_index=True)
    swept_at = models.DateTimeField(_("last re-enqueued by the sweep"), null=True, blank=True)
    lease_until = models.DateTimeField(_("lease held until"), null=True, blank=True)
    lease_token = models.CharField(_("lease token"), max_length=32, blank=True, db_default="")
    payload_fingerprint = models.CharField(
        _("fingerprint of the last payload sent"), max_length=64, blank=True, db_default=""
    )
    contact_id = models.CharField(_("Meisa contact id"), max_length=64, blank=True, db_default="")
    previous_contact_id = models.CharField(
        _("previous Meisa contact id"),
        max_length=64,
        blank=True,
        db_default="",
        help_text=_("The id Meisa returned before the latest change of contact id."),
    )
    meisa_status = models.CharField(_("Meisa status"), max_length=32, blank=True, db_default="")
    last_synced_at = models.DateTimeField(_("last synced"), null=True, blank=True)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    last_result = models.CharField(
        _("last result"),
        max_length=32,
        choices=MeisaSyncResult.choices,
        blank=True,
        db_default="",
    )
    attempts = models.PositiveIntegerField(
        _("failed attempts"),
        default=0,
        db_default=0,
        help_text=_("Consecutive failed attempts since the last success."),
    )
    last_error = models.TextField(_("last error"), blank=True, db_default="")
    last_error_at = models.DateTimeField(_("last error at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_default=Now())

    objects = UserSyncStateQuerySet.as_manager()

    class Meta:
        verbose_name = _("user sync state")
        verbose_name_plural = _("user sync states")
        indexes = [
            models.Index(fields=["last_result"], name="meisa_sync_last_result"),
            # Finds the other users on one Meisa contact (two users, one email) cheaply.
            models.Index(fields=["contact_id"], name="meisa_sync_contact_id"),
        ]
        permissions = [("sync_usersyncstate", _("Can sync users to Meisa now"))]

    def __str__(self) -> str:
        return f"Meisa sync state of user {self.user_id}"

    @property
    def is_pending(self) -> bool:
        """True while a requested change is neither handled nor failed (``pending()`` in SQL)."""
        return self.version > self.synced_version and self.failed_version != self.version

    @property
    def status(self) -> str:
        """One word for people: "failed", "pending", "synced", "skipped" or "new"."""
        if self.is_failed:
            return "failed"
        if self.is_pending:
            return "pending"
        if self.last_synced_at is not None:
            return "synced"
        return "skipped" if self.last_result.startswith("skipped") else "new"

    @property
    def is_failed(self) -> bool:
        """True when the latest requested version failed permanently."""
        return self.failed_version is not None and self.failed_version == self.version
