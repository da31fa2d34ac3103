"""The MEISA settings dict: defaults in one place, read at call time."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from django_meisa.exceptions import MeisaConfigurationError

#: Every public key of ``settings.MEISA`` with its default. Anything else is a typo
#: and is reported by the ``meisa.E003`` system check.
DEFAULTS: dict[str, Any] = {
    # Foundation
    #: Your Meisa API key (scopes contacts:write and contacts:read); read it from the
    #: environment. Required while ENABLED (meisa.E001); never logged or shown.
    "API_KEY": None,
    #: Meisa's API root; https only, except http://127.0.0.1 / localhost for a local fake.
    "BASE_URL": "https://api.meisa.io/api/v1",
    #: False turns django-meisa off: no sync is requested or sent, refreshes are skipped.
    "ENABLED": True,
    #: Seconds per HTTP request to Meisa: one number, or a (connect, read) pair.
    "TIMEOUT": (3.05, 10.0),
    # Contact sync: mapping (contacts/mapping.py; recipes: docs/howto/mapping.md)
    #: Meisa custom field name -> attribute path on the user ("profile.plan") or the
    #: dotted path of a callable taking the user.
    "CUSTOM_FIELDS": {},
    #: None, or the dotted path of a callable(user) -> list of tag names to add.
    "TAG_NAMES": None,
    #: None (the primary key, as a string) or an attribute path on the user.
    "EXTERNAL_ID_FIELD": None,
    #: None, or the dotted path of a callable(user) -> upsert payload dict (full control).
    "MAPPER": None,
    #: Attribute paths for the contact's names; None sends no name.
    "FIRST_NAME_FIELD": "first_name",
    "LAST_NAME_FIELD": "last_name",
    # Contact sync: triggers and the request path (contacts/requests.py, receivers.py)
    #: Sync a user after each committed save of the user model (post_save).
    "SYNC_ON_SAVE": True,
    #: Sync a user after each login (exactly one upsert per login).
    "SYNC_ON_LOGIN": True,
    #: {"app_label.Model": "attribute.path.to.user"}: a save or delete syncs that user.
    "SYNC_TRIGGERS": {},
    # Contact sync: who is synced, related models, deleted users (eligibility.py,
    # relations.py, deletion.py)
    #: None (every user), or field lookups on the user model run in SQL, e.g.
    #: {"is_active": True, "is_staff": False, "profile__newsletter": True} (or a Q).
    "SYNC_USERS_FILTER": None,
    #: None, or the dotted path of a callable(user) -> bool for rules SQL can't express;
    #: asked on top of SYNC_USERS_FILTER right before a user is mapped.
    "SHOULD_SYNC_USER": None,
    #: Relations (attribute paths from the user, e.g. ["profile", "profile.company"])
    #: a custom MAPPER reads: a save or delete of their rows syncs the user. [] = none.
    "MAPPER_RELATIONS": None,
    #: None, or a tag (e.g. "account-deleted") added by one final upsert after a user
    #: is deleted, for a Meisa automation to act on (Meisa has no delete endpoint).
    "DELETED_USER_TAG": None,
    #: True adds a deleted user's address to the local suppression list.
    "SUPPRESS_DELETED_USERS": False,
    #: Publish retries when the broker is down; kept small so a request never stalls.
    "ENQUEUE_MAX_RETRIES": 2,
    #: Who publishes sync tasks after commit: "auto" (a background thread per process,
    #: except under eager Celery, uWSGI without enable-threads, or gevent/eventlet
    #: monkey-patching, where it is inline), "background" (always the thread) or
    #: "inline" (on the request thread, as in 0.1).
    "PUBLISH_MODE": "auto",
    #: Publishes the background queue holds; when it is full, a request publishes inline.
    "PUBLISH_QUEUE_SIZE": 10000,
    #: Seconds the process waits at exit for queued publishes (the rest: the sweep).
    "PUBLISH_FLUSH_TIMEOUT": 5.0,
    #: Seconds a login's sync waits when the login ran outside a transaction (so the
    #: rest of the login, e.g. a sign-in counter, is committed); 0 = at once.
    "SYNC_LOGIN_DELAY": 1.0,
    # Contact sync: the worker (contacts/worker.py, tasks.py)
    #: Task retries for retryable failures (network, 5xx, 429); then the sweep takes over.
    "SYNC_MAX_RETRIES": 8,
    #: Exponential backoff: SYNC_RETRY_BACKOFF * 2**retries seconds, jittered, capped.
    "SYNC_RETRY_BACKOFF": 2.0,
    "SYNC_RETRY_BACKOFF_MAX": 300.0,
    #: Cap on a 429's Retry-After; keep it below the broker's visibility timeout.
    "SYNC_RETRY_AFTER_MAX": 900.0,
    #: Seconds a worker holds a user's sync lease; None = connect + read timeout + 30.
    "SYNC_LEASE_TIMEOUT": None,
    #: Seconds a pending sync may age before the sweep re-enqueues it.
    "SWEEP_AFTER": 300,
    #: Rows the sweep re-enqueues per run.
    "SWEEP_BATCH_SIZE": 500,
    #: Sweep cycles a sync may keep failing retryably (5xx, timeouts, malformed replies)
    #: before it is marked failed like a 4xx: admin, contact_sync_failed
    #: (retryable=False), retried when the user changes. A cycle is one task run of
    #: SYNC_MAX_RETRIES + 1 failed attempts. None = retry forever.
    "SYNC_GIVE_UP_AFTER_SWEEPS": 12,
    # Suppression: the local mirror of Meisa's list (suppression/, tasks.py)
    #: Seconds between refreshes; the beat entry reads it, the admin flags a stale mirror.
    "SUPPRESSION_REFRESH_INTERVAL": 900,
    #: Withhold a refresh's deletions when they exceed this fraction of the held list...
    "SUPPRESSION_SHRINK_MAX_FRACTION": 0.1,
    #: ...and are more than this many rows (small lists change freely, empty ones never).
    "SUPPRESSION_SHRINK_MIN_COUNT": 10,
    #: Apply withheld deletions anyway (one-off: prefer the command's --force).
    "SUPPRESSION_FORCE_SHRINK": False,
    #: Seconds an address suppressed from an upsert status survives refreshes that
    #: don't list it yet (Meisa's list snapshot may lag behind the contact's status).
    "SUPPRESSION_STATUS_GRACE": 3600,
    #: Seconds a refresh holds its cross-host lease before another run may take over.
    "SUPPRESSION_LOCK_TIMEOUT": 600,
    #: Seconds after the last successful refresh at which the mirror counts as stale
    #: (ERROR log, suppression_stale signal, admin banner, a refresh requested); None =
    #: 4 x SUPPRESSION_REFRESH_INTERVAL (1 hour by default): three missed refreshes.
    "SUPPRESSION_MAX_AGE": None,
    #: "warn" (send, filtered by the stale mirror, and report it) or "raise"
    #: (MeisaSuppressionStale: send nothing) when the mirror is stale.
    "SUPPRESSION_STALE_POLICY": "warn",
    # Suppression: the email backend wrapper (backends.py)
    #: Dotted path of the real backend behind SuppressionEmailBackend (classic style).
    "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
    #: "drop" (not sent, not counted) or "raise" (MeisaRecipientsSuppressed) when every
    #: recipient of a message is suppressed.
    "SUPPRESSION_ALL_SUPPRESSED": "drop",
    #: True sends without filtering when the suppression table can't be read (meisa.W020),
    #: and, filtered by local entries only, while the mirror has never been loaded.
    "SUPPRESSION_FAIL_OPEN": False,
    #: True honours ``message.meisa_bypass_suppression = "reason"`` (logged each time).
    "SUPPRESSION_ALLOW_BYPASS": False,
    #: Addresses per lookup query; a send_messages batch costs ceil(n / this) queries.
    "SUPPRESSION_LOOKUP_BATCH_SIZE": 2000,
    #: Keep a Bloom filter of the mirror's keys in each process (about 4 bytes per
    #: key) so only possible hits are looked up; checked against the mirror's
    #: generation on every batch, so a stale filter only costs a query. Off by default:
    #: each change of the mirror makes every sending process re-read all its keys, and
    #: a site writing the table in bulk itself must call bump_generation (see the
    #: performance page).
    "SUPPRESSION_NEGATIVE_CACHE": False,
    # Backfill: meisa_backfill (backfill/)
    #: A user field whose recent value means "changed" for --since (e.g. "updated_at"),
    #: on top of date_joined, last_login and the sync state's requested_at.
    "BACKFILL_CHANGED_FIELD": None,
    #: Relations to join when loading users for the mapper; None derives them from the
    #: attribute paths in CUSTOM_FIELDS (set it for a custom MAPPER).
    "BACKFILL_SELECT_RELATED": None,
    #: Seconds a backfill's chunk lease lasts (its users' sync leases, a worker's claim);
    #: renewed every 15 s while the chunk sends, so a crashed run holds users this long.
    "BACKFILL_LEASE_TIMEOUT": 60,
    #: Cache alias shared by all Celery workers, for --rate across workers in --enqueue
    #: mode (e.g. a Redis cache); None limits each worker process on its own.
    "BACKFILL_RATE_LIMIT_CACHE": None,
    # Operations: health checks for django-health-check (health.py)
    #: The backlog check fails above this many pending syncs...
    "HEALTH_MAX_PENDING": 1000,
    #: ...or when the oldest pending sync is older than this many seconds.
    "HEALTH_MAX_PENDING_AGE": 3600,
    #: The mirror check fails when the last successful refresh is older than this many
    #: seconds; None = SUPPRESSION_MAX_AGE, the age at which the mirror counts as stale.
    "HEALTH_MAX_MIRROR_AGE": None,
}


def user_settings() -> dict[str, Any]:
    """Return ``settings.MEISA`` as given by the site (an empty dict when absent)."""
    value = getattr(settings, "MEISA", None)
    return value if isinstance(value, dict) else {}


def get_setting(name: str) -> Any:
    """Return ``MEISA[name]``, or its default; read at use time, never cached.

    A ``KeyError`` (a name not in ``DEFAULTS``) is a bug in django-meisa, not the site's.
    """
    return user_settings().get(name, DEFAULTS[name])


def timeout() -> tuple[float, float]:
    """Return ``MEISA["TIMEOUT"]`` as ``(connect, read)`` seconds, or raise naming it."""
    value = get_setting("TIMEOUT")
    parsed = parse_timeout(value)
    if parsed is None:
        raise MeisaConfigurationError(
            'MEISA["TIMEOUT"] must be a positive number of seconds or a '
            f"(connect, read) pair of positive numbers, not {value!r}."
        )
    return parsed


def parse_timeout(value: Any) -> tuple[float, float] | None:
    """Return ``value`` as ``(connect, read)`` seconds, or None when it is not valid."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = (value, value)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in value):
        return None
    return float(value[0]), float(value[1])


def is_number(
    value: Any,
    *,
    minimum: float = 0,
    maximum: float | None = None,
    integer: bool = False,
    positive: bool = False,
) -> bool:
    """True when ``value`` is a real number (never a bool) within the bounds: the one
    numeric test of the system checks. ``positive`` excludes zero; ``integer`` floats."""
    kind: Any = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind):
        return False
    if value < minimum or (positive and value <= 0):
        return False
    return maximum is None or value <= maximum
