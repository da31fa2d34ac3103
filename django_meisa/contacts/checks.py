"""System checks for the contact sync settings (meisa.E010-E019, W010-W019), and for who is
synced, related models and deleted users (meisa.E070-E079, W070-W079)."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.checks import CheckMessage, Error, Warning
from django.core.exceptions import FieldError

from django_meisa import conf
from django_meisa.contacts.eligibility import eligible_users, should_sync_callable
from django_meisa.contacts.mapping import classify_spec, load_callable
from django_meisa.contacts.relations import relation_field
from django_meisa.exceptions import MeisaConfigurationError, MeisaMappingError

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
            hint = "Use an attribute path on the user model, or None."
            messages.append(Error(f'MEISA["{setting}"] {problem}.', hint=hint, id="meisa.E014"))
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
    ignored = [name for name in ("CUSTOM_FIELDS", "TAG_NAMES") if conf.get_setting(name)]
    if not conf.get_setting("MAPPER") or not ignored:
        return []
    names = ", ".join(f'MEISA["{name}"]' for name in ignored)
    hint = "Call django_meisa.contacts.mapping.default_payload(user) from your MAPPER to reuse it."
    return [Warning(f'MEISA["MAPPER"] is set, so {names} is ignored.', hint=hint, id="meisa.W010")]


# Who is synced, related models, deleted users ----------------------------------------------


def scope_messages() -> list[CheckMessage]:
    """Return the problems of SYNC_USERS_FILTER, SHOULD_SYNC_USER and MAPPER_RELATIONS."""
    return [
        *filter_messages(),
        *should_sync_messages(),
        *relations_messages(),
        *deletion_messages(),
        *health_messages(),
    ]


def filter_messages() -> list[CheckMessage]:
    """E070 when SYNC_USERS_FILTER is not lookups the user model understands."""
    try:
        str(eligible_users().query)  # compiles the lookups without touching the database
    except MeisaConfigurationError as err:
        return [Error(str(err), id="meisa.E070")]
    except (FieldError, ValueError, TypeError) as err:
        message = f'MEISA["SYNC_USERS_FILTER"] is not a valid filter of the user model: {err}'
        hint = 'Use field lookups as for User.objects.filter(), e.g. {"is_active": True}.'
        return [Error(message, hint=hint, id="meisa.E070")]
    return []


def should_sync_messages() -> list[CheckMessage]:
    """E071 when SHOULD_SYNC_USER does not import to a callable."""
    try:
        should_sync_callable()
    except MeisaConfigurationError as err:
        hint = "Use the dotted path of a callable(user) -> bool, or None."
        return [Error(str(err), hint=hint, id="meisa.E071")]
    return []


def relations_messages() -> list[CheckMessage]:
    """W070 when a MAPPER declares no MAPPER_RELATIONS; E072 for an unusable entry."""
    declared = conf.get_setting("MAPPER_RELATIONS")
    if declared is None:
        if not conf.get_setting("MAPPER"):
            return []
        return [
            Warning(
                'MEISA["MAPPER"] is set but MEISA["MAPPER_RELATIONS"] declares none of the '
                "relations it reads, so saving them (a profile, a subscription) never syncs.",
                hint='List them, e.g. MEISA["MAPPER_RELATIONS"] = ["profile"], or set [] '
                "when the mapper reads the user's own fields only.",
                id="meisa.W070",
            )
        ]
    if not isinstance(declared, (list, tuple)):
        return [Error('MEISA["MAPPER_RELATIONS"] must be a list of paths.', id="meisa.E072")]
    return [m for m in (relation_problem(path) for path in declared) if m is not None]


def relation_problem(path: Any) -> CheckMessage | None:
    """E072 unless every segment of ``path`` is a relation, from the user model on."""
    current: Any = get_user_model()
    for segment in path.split(".") if isinstance(path, str) and path else [None]:
        field = relation_field(current, segment) if segment else None
        if field is None:
            return Error(
                f'MEISA["MAPPER_RELATIONS"] entry {path!r}: {segment!r} is not a relation '
                f"of {getattr(current, '__name__', current)}.",
                hint='Use relation names from the user, dot-separated: "profile.company".',
                id="meisa.E072",
            )
        current = field.related_model
    return None


def deletion_messages() -> list[CheckMessage]:
    """E073 when DELETED_USER_TAG is not a non-empty string; E075 for a non-bool
    SUPPRESS_DELETED_USERS (a string such as "no" would be truthy)."""
    messages: list[CheckMessage] = []
    tag = conf.get_setting("DELETED_USER_TAG")
    if not (tag is None or (isinstance(tag, str) and tag.strip())):
        hint = 'Use None or a tag name such as "account-deleted".'
        messages.append(Error(f'MEISA["DELETED_USER_TAG"] is {tag!r}.', hint=hint, id="meisa.E073"))
    suppress = conf.get_setting("SUPPRESS_DELETED_USERS")
    if not isinstance(suppress, bool):
        hint = "Use True or False."
        messages.append(
            Error(f'MEISA["SUPPRESS_DELETED_USERS"] is {suppress!r}.', hint=hint, id="meisa.E075")
        )
    return messages


def health_messages() -> list[CheckMessage]:
    """E074 for health-check thresholds that are not positive numbers."""
    messages: list[CheckMessage] = []
    for name in ("HEALTH_MAX_PENDING", "HEALTH_MAX_PENDING_AGE", "HEALTH_MAX_MIRROR_AGE"):
        value = conf.get_setting(name)
        if value is None and name == "HEALTH_MAX_MIRROR_AGE":
            continue
        if not conf.is_number(value, positive=True, integer=name == "HEALTH_MAX_PENDING"):
            hint = "Use a positive number (seconds, or syncs for HEALTH_MAX_PENDING)."
            messages.append(Error(f'MEISA["{name}"] is {value!r}.', hint=hint, id="meisa.E074"))
    return messages
