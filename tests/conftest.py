"""Shared fixtures for django-meisa's own tests."""

from __future__ import annotations

pytest_plugins = ["django_meisa.testing.pytest_plugin"]
