"""Publish django-meisa's Celery tasks by name, so no module inside the package imports tasks.py."""

from __future__ import annotations

from typing import Any

from celery import current_app

#: The task names of django_meisa.tasks (kept from 0.1, so queued messages still run).
SYNC_CONTACT = "django_meisa.tasks.sync_contact"
BACKFILL_CHUNK = "django_meisa.tasks.backfill_chunk"
SEND_DELETION_UPSERT = "django_meisa.tasks.send_deletion_upsert"


def publish_task(name: str, args: tuple[Any, ...], **options: Any) -> None:
    """Publish task ``name`` with ``args`` and ``apply_async``'s ``options``; errors propagate.

    Sent by name (``send_task``); under ``task_always_eager`` the task runs here instead.
    """
    if current_app.conf.task_always_eager and name in current_app.tasks:
        current_app.tasks[name].apply_async(args, **options)
        return
    current_app.send_task(name, args=args, **options)
