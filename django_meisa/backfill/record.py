"""Write a chunk's sync outcomes to UserSyncState: one ``executemany`` per kind of outcome.

The same columns ``django_meisa.contacts.state`` writes for one user, for a few hundred
users at once. Each row is guarded by the chunk's lease token, so a row another worker
has taken over is left alone. Plain ``UPDATE ... WHERE`` statements sent with
``executemany`` cost microseconds per row, where ``bulk_update``'s ``CASE WHEN`` SQL
costs a millisecond.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from django_meisa.backfill.state import MeisaChunkLease, MeisaStateSnapshot
from django_meisa.models import MeisaSyncResult, UserSyncState

#: Seconds between writes of results to the state rows while a chunk is sending: the
#: most a hard crash (SIGKILL) can lose, and so what ``--resume`` might send again.
FLUSH_INTERVAL = 0.02

#: ``pending_since`` is cleared only if no newer request arrived (as in sync_record).
CLEAR_PENDING = "pending_since = CASE WHEN version <= %s THEN NULL ELSE pending_since END"
#: An upsert sent for ``version`` also answers a login that asked for one.
CLEAR_LOGIN = "login_pending = CASE WHEN version <= %s THEN FALSE ELSE login_pending END"
SUCCESS_SET = [
    "synced_version = %s", "failed_version = NULL", CLEAR_PENDING, CLEAR_LOGIN,
    "signup_pending = %s",
    "payload_fingerprint = %s", "contact_id = %s", "meisa_status = %s",
    "last_synced_at = %s", "last_attempt_at = %s", "last_result = %s", "attempts = 0",
    "last_error = ''", "last_error_at = NULL",
]  # fmt: skip
HANDLED_SET = [
    "synced_version = %s", "failed_version = NULL", CLEAR_PENDING, "last_attempt_at = %s",
    "last_result = %s", "attempts = 0", "last_error = ''", "last_error_at = NULL",
]  # fmt: skip
FAILURE_SET = [
    "attempts = attempts + 1", "last_error = %s", "last_error_at = %s",
    "last_attempt_at = %s", "last_result = %s",
]  # fmt: skip
PERMANENT_SET = [*FAILURE_SET, "failed_version = %s"]
SETS = {"success": SUCCESS_SET, "handled": HANDLED_SET, "failure": FAILURE_SET,
        "permanent": PERMANENT_SET}  # fmt: skip


@dataclass
class MeisaChunkRecord:
    """Outcomes for a chunk's users, kept in memory until ``flush`` writes them."""

    lease: MeisaChunkLease
    _rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)

    def success(
        self, state: MeisaStateSnapshot, version: int, fingerprint: str, contact: Any
    ) -> None:
        """Record an accepted upsert of ``version`` (as ``sync_record.record_success``)."""
        status = contact.get("status")
        now = self._when()
        self._add("success", state, version, version, version, False, fingerprint,
                  str(contact.get("id", ""))[:64], status[:32] if isinstance(status, str) else "",
                  now, now, str(MeisaSyncResult.SYNCED))  # fmt: skip

    def handled(self, state: MeisaStateSnapshot, version: int, result: str) -> None:
        """Record that ``version`` needs no request (unchanged payload, or no email)."""
        self._add("handled", state, version, version, self._when(), str(result))

    def failure(
        self, state: MeisaStateSnapshot, version: int, error: str, *, permanent: bool
    ) -> None:
        """Record a failed attempt; a permanent one marks ``failed_version`` for the sweep."""
        now = self._when()
        if permanent:
            result = str(MeisaSyncResult.FAILED_PERMANENT)
            self._add("permanent", state, error[:1000], now, now, result, version)
        else:
            result = str(MeisaSyncResult.FAILED_RETRYABLE)
            self._add("failure", state, error[:1000], now, now, result)

    @property
    def dirty(self) -> bool:
        """True when some outcomes are not written yet."""
        return bool(self._rows)

    def flush(self) -> None:
        """Write the outcomes recorded so far, in one transaction, keeping the lease.

        Called often while a chunk is sending, so a crash loses as few results as
        possible (a user sent but not recorded would be sent again by ``--resume``).
        """
        if not self._rows:
            return
        table = connection.ops.quote_name(UserSyncState._meta.db_table)
        with transaction.atomic(), connection.cursor() as cursor:
            for kind, rows in self._rows.items():
                # Only constants and the quoted table name go into the SQL; values are params.
                assignments = ", ".join(SETS[kind])
                sql = f"UPDATE {table} SET {assignments} WHERE user_id = %s AND lease_token = %s"  # noqa: S608
                cursor.executemany(sql, rows)
        self._rows.clear()

    def save(self) -> None:
        """Write what is left to write, then release the chunk's lease."""
        self.flush()
        self.lease.release()

    def _when(self) -> Any:
        return connection.ops.adapt_datetimefield_value(timezone.now())

    def _add(self, kind: str, state: MeisaStateSnapshot, *values: Any) -> None:
        self._rows.setdefault(kind, []).append((*values, state.user_id, self.lease.token))
