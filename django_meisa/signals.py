"""django-meisa's public signals. Receivers live in ``receivers.py``."""

from __future__ import annotations

from django.dispatch import Signal

#: Sent after a contact was upserted to Meisa by ``sync_contact_now``.
#: ``sender``: ``UserSyncState``. Arguments: ``user_pk``; ``contact`` (the dict Meisa
#: returned: id, email, status, custom_fields, tags...); ``source`` (the ``source``
#: sent: "signup", "api" or "initial_sync"); ``version`` (the sync version sent);
#: ``previous_contact_id`` (the contact id Meisa returned before, when this upsert
#: answered with another one: result "contact_changed"; else None).
#: Receivers run in the worker, after the state row is updated; an exception in a
#: receiver is logged and never undoes the sync.
contact_synced = Signal()

#: Sent when a contact sync gives up for now. ``sender``: ``UserSyncState``.
#: Arguments: ``user_pk``; ``error`` (the ``MeisaError``; its text holds no personal
#: data); ``retryable`` (False for a permanent failure such as a 4xx or a mapper error,
#: recorded on the state until the user changes again; True when the task's retries are
#: exhausted and the sweep will try again later).
contact_sync_failed = Signal()

#: Sent by ``SuppressionEmailBackend`` when it drops recipients of a message, before
#: the rest of the message is sent. ``sender``: the backend class. Arguments:
#: ``message`` (the EmailMessage, already filtered; ``message.to`` is empty-ish when
#: every recipient was dropped) and ``suppressed`` (the dropped addresses, addr-spec
#: form, or the raw value for one that can't be parsed). Exceptions in receivers are
#: logged and never stop the send.
email_suppressed = Signal()

#: Sent once a user's delete has committed (never for a rolled-back delete).
#: ``sender``: the user model. Arguments: ``user_pk``; ``email`` (the address the user
#: had); ``contact_id`` (the Meisa contact id last returned for the user, "" if never
#: synced); ``external_id`` (what the mapper sent as external_id, or None). Meisa has no
#: delete endpoint: act on it yourself (see the operations guide). Receivers run in the
#: deleting process; an exception in one is logged and never undoes the delete.
user_deleted = Signal()

#: Sent when ``SuppressionEmailBackend`` finds the suppression mirror never loaded or
#: older than ``MEISA["SUPPRESSION_MAX_AGE"]``; at most once per 5 minutes per process,
#: with an ERROR log. ``sender``: the backend class. Arguments: ``loaded`` (False when
#: no refresh ever succeeded); ``last_success_at`` (datetime or None); ``age`` (seconds
#: since the last successful refresh, or None); ``max_age`` (seconds). Receivers run in
#: the sending process; their exceptions are logged and never stop the send.
suppression_stale = Signal()
