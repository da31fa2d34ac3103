"""System checks for the contact sync settings (meisa.E010-E019, meisa.W010-W019)."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.checks import CheckMessage, Error, Warning

from django_meisa import conf
from django_meisa.contacts.mapping import classify_spec, load_callable
from django_meisa.contacts.relations import relation_field
from django_meisa.exceptions import MeisaMappingError

_PATH_HINT = (
    "Use an attribute path on the user model (a field, relation or property, e.g. "
    '"profile.plan"), or the dotted path of a callable taking the user.'
)


def contact_sync_messages() -> list[CheckMessage]:
    """Return every problem found in the contact sync settings, naming the bad entry."""
    user_model = get_user_model()
    return [
        *custom_field_messages(user_model),
        *callable_messages("TAG_NAMES", "meisa.E012"),
        *callable_messages("MAPPER", "meisa.E013"),
        *attribute_setting_messages(user_model),
        *trigger_messages(user_model),
        *number_messages(),
        *lease_messages(),
        *mapper_overlap_messages(),
    ]


def custom_field_messages(user_model: type) -> list[CheckMessage]:
    """E010 for a CUSTOM_FIELDS that is not a dict; E011 for each unusable entry."""
    fields = conf.get_setting("CUSTOM_FIELDS")
    if not isinstance(fields, dict):
        return [Error('MEISA["CUSTOM_FIELDS"] must be a dict.', id="meisa.E010")]
    messages: list[CheckMessage] = []
    for name, spec in fields.items():
        entry = f'MEISA["CUSTOM_FIELDS"][{name!r}]'
        if not isinstance(name, str) or not name:
            messages.append(Error(f"{entry}: keys must be non-empty strings.", id="meisa.E010"))
            continue
        problem = spec_problem(spec, user_model)
        if problem:
            messages.append(Error(f"{entry} {problem}.", hint=_PATH_HINT, id="meisa.E011"))
    return messages


def spec_problem(spec: Any, user_model: type) -> str | None:
    """Return why ``spec`` cannot be evaluated for ``user_model``, or None."""
    try:
        kind, target = classify_spec(spec, user_model)
        if kind == "callable":
            load_callable(target, "")
            return None
    except MeisaMappingError as err:
        return str(err).strip() or "is not usable"
    return path_problem(user_model, target)


def path_problem(model: type, path: str) -> str | None:
    """Walk ``path`` through model relations; return the first unknown segment, or None.

    A non-relation (a property, a plain field) ends the walk: its attributes are only
    known at run time.
    """
    current: Any = model
    for segment in path.split("."):
        if not hasattr(current, segment):
            return f"({path!r}): {current.__name__} has no attribute {segment!r}"
        field = relation_field(current, segment)
        if field is None:
            return None
        current = field.related_model
    return None


def callable_messages(setting: str, check_id: str) -> list[CheckMessage]:
    """An error when ``MEISA[setting]`` is set but does not import to a callable."""
    path = conf.get_setting(setting)
    if not path:
        return []
    try:
        load_callable(path, f'MEISA["{setting}"] ({path!r})')
    except MeisaMappingError as err:
        return [Error(f"{err}.", hint="Use the dotted path of a callable(user).", id=check_id)]
    return []


def attribute_setting_messages(user_model: type) -> list[CheckMessage]:
    """E014 for an EXTERNAL_ID_FIELD / FIRST_NAME_FIELD / LAST_NAME_FIELD the user lacks."""
    messages: list[CheckMessage] = []
    for setting in ("EXTERNAL_ID_FIELD", "FIRST_NAME_FIELD", "LAST_NAME_FIELD"):
        path = conf.get_setting(setting)
        if not path or path == conf.DEFAULTS[setting]:
            continue  # The defaults adapt to custom user models at run time.
        problem = path_problem(user_model, path) if isinstance(path, str) else "is not a string"
        if problem:
            messages.append(
                Error(
                    f'MEISA["{setting}"] {problem}.',
                    hint="Use an attribute path on the user model, or None.",
                    id="meisa.E014",
                )
            )
    return messages


def trigger_messages(user_model: type) -> list[CheckMessage]:
    """E015 for an unknown SYNC_TRIGGERS model; E016 for a path that does not reach a user."""
    triggers = conf.get_setting("SYNC_TRIGGERS")
    if not isinstance(triggers, dict):
        return [Error('MEISA["SYNC_TRIGGERS"] must be a dict.', id="meisa.E015")]
    messages: list[CheckMessage] = []
    for label, path in triggers.items():
        entry = f'MEISA["SYNC_TRIGGERS"][{label!r}]'
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError, TypeError):
            hint = 'Use "app_label.ModelName", e.g. "billing.Subscription".'
            messages.append(Error(f"{entry}: no such model.", hint=hint, id="meisa.E015"))
            continue
        problem = trigger_path_problem(model, path, user_model)
        if problem:
            hint = 'The value is the attribute path from the model to its user, e.g. "user".'
            messages.append(Error(f"{entry} {problem}.", hint=hint, id="meisa.E016"))
    return messages


def trigger_path_problem(model: type, path: Any, user_model: type) -> str | None:
    """Return why ``path`` does not lead from ``model`` to a user, or None."""
    if not isinstance(path, str) or not path:
        return "must be an attribute path string"
    problem = path_problem(model, path)
    if problem:
        return problem
    current: Any = model
    for segment in path.split("."):
        field = relation_field(current, segment)
        if field is None:
            return None  # A property or plain field: checked at run time.
        current = field.related_model
    if current is not user_model:
        return f"({path!r}) leads to {current.__name__}, not the user model"
    return None


def number_messages() -> list[CheckMessage]:
    """E017 for retry, sweep and lease settings that are not numbers >= 0."""
    names = [
        "SYNC_MAX_RETRIES",
        "SYNC_RETRY_BACKOFF",
        "SYNC_RETRY_BACKOFF_MAX",
        "SYNC_RETRY_AFTER_MAX",
        "SWEEP_AFTER",
        "SWEEP_BATCH_SIZE",
        "ENQUEUE_MAX_RETRIES",
        "SYNC_LOGIN_DELAY",
    ]
    if conf.get_setting("SYNC_LEASE_TIMEOUT") is not None:  # None: derived from TIMEOUT
        names.append("SYNC_LEASE_TIMEOUT")
    values = {name: conf.get_setting(name) for name in names}
    return [
        Error(f'MEISA["{name}"] is {value!r}.', hint="Use a number >= 0.", id="meisa.E017")
        for name, value in values.items()
        if not conf.is_number(value)
    ]


def lease_messages() -> list[CheckMessage]:
    """W011 when SYNC_LEASE_TIMEOUT does not outlast one HTTP exchange (connect + read)."""
    lease = conf.get_setting("SYNC_LEASE_TIMEOUT")
    timeout = conf.parse_timeout(conf.get_setting("TIMEOUT"))
    if not conf.is_number(lease) or timeout is None or lease > sum(timeout):
        return []
    return [
        Warning(
            f'MEISA["SYNC_LEASE_TIMEOUT"] ({lease} s) is not longer than one request '
            f'(MEISA["TIMEOUT"] connect + read = {sum(timeout)} s).',
            hint="A lease that expires mid-request lets a second worker send for the same "
            "user; it is repaired by a resend, but costs requests. Leave it None.",
            id="meisa.W011",
        )
    ]


def mapper_overlap_messages() -> list[CheckMessage]:
    """W010 when MAPPER is set together with settings it makes unused."""
    if not conf.get_setting("MAPPER"):
        return []
    ignored = [name for name in ("CUSTOM_FIELDS", "TAG_NAMES") if conf.get_setting(name)]
    if not ignored:
        return []
    names = ", ".join(f'MEISA["{name}"]' for name in ignored)
    return [
        Warning(
            f'MEISA["MAPPER"] is set, so {names} is ignored.',
            hint=(
                "Call django_meisa.contacts.mapping.default_payload(user) "
                "from your MAPPER to reuse it."
            ),
            id="meisa.W010",
        )
    ]
