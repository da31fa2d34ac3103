"""django-meisa's public signals. Receivers live in ``receivers.py``."""

from __future__ import annotations

from django.dispatch import Signal

#: Sent after a contact was upserted to Meisa by ``sync_contact_now``.
#: ``sender``: ``UserSyncState``. Arguments: ``user_pk``; ``contact`` (the dict Meisa
#: returned: id, email, status, custom_fields, tags...); ``source`` (the ``source``
#: sent: "signup", "api" or "initial_sync"); ``version`` (the sync version sent).
#: Receivers run in the worker, after the state row is updated; an exception in a
#: receiver is logged and never undoes the sync.
contact_synced = Signal()

#: Sent when a contact sync gives up for now. ``sender``: ``UserSyncState``.
#: Arguments: ``user_pk``; ``error`` (the ``MeisaError``; its text holds no personal
#: data); ``retryable`` (False for a permanent failure such as a 4xx or a mapper error,
#: recorded on the state until the user changes again; True when the task's retries are
#: exhausted and the sweep will try again later).
contact_sync_failed = Signal()
