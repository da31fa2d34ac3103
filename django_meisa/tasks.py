"""Celery tasks: thin wrappers that pass primary keys to the plain functions doing the work."""

from __future__ import annotations
