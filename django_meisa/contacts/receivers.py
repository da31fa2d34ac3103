"""Signal receivers that turn user changes, logins and trigger models into sync requests."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in
from django.core.exceptions import ObjectDoesNotExist
from django.db import models, transaction
from django.db.models.signals import post_delete, post_save, pre_delete

from django_meisa import conf
from django_meisa.contacts.deletion import user_being_deleted
from django_meisa.contacts.relations import related_user_pks
from django_meisa.contacts.requests import request_sync


def connect_receivers() -> None:
    """Connect the sync receivers (``MeisaConfig.ready()``); the trigger receivers hear
    every model and read ``SYNC_TRIGGERS`` at call time, so ``override_settings`` works."""
    # No sender: proxy and child models of the user model send their own post_save.
    post_save.connect(user_saved, dispatch_uid="django_meisa.user_saved")
    user_logged_in.connect(user_logged_in_receiver, dispatch_uid="django_meisa.user_logged_in")
    post_save.connect(trigger_saved, dispatch_uid="django_meisa.trigger_saved")
    post_delete.connect(trigger_deleted, dispatch_uid="django_meisa.trigger_deleted")
    post_save.connect(related_saved, dispatch_uid="django_meisa.related_saved")
    pre_delete.connect(related_deleting, dispatch_uid="django_meisa.related_deleting")
    pre_delete.connect(user_deleting, dispatch_uid="django_meisa.user_deleting")


def user_saved(
    sender: Any,
    instance: Any,
    created: bool = False,
    raw: bool = False,
    update_fields: Any = None,
    using: str | None = None,
    **kwargs: Any,
) -> None:
    """post_save of the user model: a save, a signup, or a login's ``last_login`` save
    (which stands for the login, so a login requests exactly one sync)."""
    if raw or not isinstance(instance, get_user_model()):
        return
    if update_fields is not None and set(update_fields) == {"last_login"}:
        if conf.get_setting("SYNC_ON_LOGIN"):
            request_sync(instance, login=True, using=using)
        return
    if conf.get_setting("SYNC_ON_SAVE"):
        request_sync(instance, created=created, using=using)


def user_logged_in_receiver(sender: Any, user: Any = None, **kwargs: Any) -> None:
    """``user_logged_in``: request a sync unless Django's own last_login save does it."""
    if user is None or not conf.get_setting("SYNC_ON_LOGIN") or last_login_is_saved():
        return
    request_sync(user, login=True)


def last_login_is_saved() -> bool:
    """True when django.contrib.auth's ``update_last_login`` runs on login (its default)."""
    return any(entry[0][0] == "update_last_login" for entry in user_logged_in.receivers)


def trigger_saved(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    """post_save of any model: sync the user of a ``SYNC_TRIGGERS`` model's instance."""
    path = trigger_path(sender)
    pk = None if raw or path is None else trigger_user_pk(instance, path)
    if pk is not None:
        request_sync(pk, using=kwargs.get("using"))


def trigger_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    """post_delete of any model: sync the user of a deleted ``SYNC_TRIGGERS`` instance."""
    path = trigger_path(sender)
    pk = None if path is None else trigger_user_pk(instance, path)
    if pk is not None:
        sync_after_commit([pk], kwargs.get("using"))


def sync_after_commit(pks: list[Any], using: str | None) -> None:
    """Once the delete commits, sync those of ``pks`` still there: the users may go in the
    same cascade, and a state row written for one about to vanish would break the delete."""
    for pk in pks:
        transaction.on_commit(partial(request_sync_if_user_exists, pk), using=using, robust=True)


def request_sync_if_user_exists(pk: Any) -> None:
    """Request a sync for ``pk`` if that user still exists."""
    if get_user_model()._default_manager.filter(pk=pk).exists():
        request_sync(pk)


def trigger_path(model: Any) -> str | None:
    """Return the user attribute path configured for ``model`` in SYNC_TRIGGERS, or None."""
    triggers = conf.get_setting("SYNC_TRIGGERS")
    if not triggers or not hasattr(model, "_meta"):
        return None
    path = triggers.get(model._meta.label) or triggers.get(model._meta.label_lower)
    return path if isinstance(path, str) and path else None


def trigger_user_pk(instance: Any, path: str) -> Any:
    """Follow ``path`` from ``instance`` to its user's pk, or None (the last hop reads a
    foreign key's id without loading the user)."""
    *hops, last = path.split(".")
    target = instance
    try:
        for hop in hops:
            target = getattr(target, hop)
            if target is None:
                return None
        field = field_named(target, last)
        if isinstance(field, models.ForeignKey):
            return getattr(target, field.attname)
        user = getattr(target, last)
    except ObjectDoesNotExist:
        return None
    return getattr(user, "pk", None)


def field_named(obj: Any, name: str) -> Any:
    """Return the model field ``name`` of ``obj``, or None."""
    try:
        return obj._meta.get_field(name)
    except Exception:
        return None


def related_saved(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    """post_save of any model: sync the users whose mapped relations reach ``instance``."""
    if raw or isinstance(instance, get_user_model()) or not conf.get_setting("SYNC_ON_SAVE"):
        return
    for pk in related_user_pks(instance):
        request_sync(pk, using=kwargs.get("using"))


def related_deleting(sender: Any, instance: Any, **kwargs: Any) -> None:
    """pre_delete of any model: after the commit, sync the users ``instance`` reached
    (found now: the links are gone after the delete)."""
    if isinstance(instance, get_user_model()) or not conf.get_setting("SYNC_ON_SAVE"):
        return
    sync_after_commit(related_user_pks(instance), kwargs.get("using"))


def user_deleting(sender: Any, instance: Any, **kwargs: Any) -> None:
    """pre_delete of the user model: ``user_deleted`` (and opt-ins) once the delete commits."""
    if isinstance(instance, get_user_model()):
        user_being_deleted(instance, using=kwargs.get("using"))
