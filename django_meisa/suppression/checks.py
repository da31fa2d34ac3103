"""System checks for suppression and the email backend (meisa.E020-E029, E040-E049 and
W020-W029, W040-W049)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.db import DatabaseError, connections, router
from django.utils.module_loading import import_string

from django_meisa import conf
from django_meisa.models import SuppressionRefreshState
from django_meisa.suppression.backend import is_wrapper
from django_meisa.suppression.freshness import MirrorFreshness, describe, last_success_at, max_age

WRAPPER = "django_meisa.backends.SuppressionEmailBackend"
POLICIES = ("drop", "raise")
STALE_POLICIES = ("warn", "raise")
FIX = (
    "Run 'manage.py meisa_refresh_suppressions' at deploy time, and run a Celery worker "
    "and beat with the refresh entry (django_meisa.tasks.suppression_beat_schedule())."
)
#: Numeric settings: (minimum, maximum or None, integer only).
NUMBERS: dict[str, tuple[float, float | None, bool]] = {
    "SUPPRESSION_REFRESH_INTERVAL": (1, None, False),
    "SUPPRESSION_SHRINK_MAX_FRACTION": (0, 1, False),
    "SUPPRESSION_SHRINK_MIN_COUNT": (0, None, True),
    "SUPPRESSION_STATUS_GRACE": (0, None, False),
    "SUPPRESSION_LOCK_TIMEOUT": (1, None, False),
    "SUPPRESSION_LOOKUP_BATCH_SIZE": (1, None, True),
}


def suppression_messages() -> list[CheckMessage]:
    """Return every problem in the suppression and email-backend configuration."""
    return [
        *classic_backend_messages(),
        *mailers_messages(),
        *policy_messages(),
        *freshness_setting_messages(),
        *number_messages(),
        *fail_open_messages(),
        *not_installed_messages(),
    ]


def _import_problem(path: Any) -> str | None:
    if not isinstance(path, str) or not path:
        return "is not a dotted path"
    try:
        import_string(path)
    except ImportError as err:
        return f"can't be imported ({err})"
    return None


def classic_backend_messages() -> list[CheckMessage]:
    """E020 when MEISA["EMAIL_BACKEND"] is the wrapper itself; E021 when unimportable."""
    path = conf.get_setting("EMAIL_BACKEND")
    if is_wrapper(path):
        return [
            Error(
                f'MEISA["EMAIL_BACKEND"] = {path!r} is SuppressionEmailBackend itself (a loop).',
                hint='Set it to your real backend, e.g. "django.core.mail.backends.smtp.'
                'EmailBackend", and EMAIL_BACKEND to the wrapper.',
                id="meisa.E020",
            )
        ]
    in_use = is_wrapper(getattr(settings, "EMAIL_BACKEND", ""))
    problem = _import_problem(path) if in_use else None
    if problem is None:
        return []
    return [
        Error(
            f'MEISA["EMAIL_BACKEND"] = {path!r} {problem}.',
            hint="Name the backend that really sends, as a dotted path.",
            id="meisa.E021",
        )
    ]


def mailers_messages() -> list[CheckMessage]:
    """E020/E021/E023 for each MAILERS entry whose BACKEND is the wrapper (Django 6.1)."""
    mailers = getattr(settings, "MAILERS", None)
    if not isinstance(mailers, dict):
        return []
    messages: list[CheckMessage] = []
    for alias, config in mailers.items():
        if isinstance(config, dict) and is_wrapper(config.get("BACKEND", "")):
            messages += _mailer_messages(alias, config.get("OPTIONS") or {}, mailers)
    return messages


def _mailer_messages(alias: str, options: dict[str, Any], mailers: dict) -> list[CheckMessage]:
    where = f'MAILERS["{alias}"]["OPTIONS"]'
    backend, mailer = options.get("backend"), options.get("mailer")
    if backend is not None and mailer is not None:
        return [Error(f'{where} gives both "backend" and "mailer".', id="meisa.E023")]
    if mailer is not None:
        return _wrapped_alias_messages(where, alias, mailer, mailers)
    path = backend if backend is not None else conf.get_setting("EMAIL_BACKEND")
    if is_wrapper(path):
        return [Error(f"{where} wraps SuppressionEmailBackend itself (a loop).", id="meisa.E020")]
    problem = _import_problem(path)
    if problem:
        return [Error(f'{where}["backend"] = {path!r} {problem}.', id="meisa.E021")]
    return []


def _wrapped_alias_messages(
    where: str, alias: str, mailer: Any, mailers: dict
) -> list[CheckMessage]:
    target = mailers.get(mailer) if isinstance(mailer, str) else None
    if not isinstance(target, dict):
        return [Error(f'{where}["mailer"] = {mailer!r} is not in MAILERS.', id="meisa.E021")]
    if mailer == alias or is_wrapper(target.get("BACKEND", "")):
        return [
            Error(
                f'{where}["mailer"] = {mailer!r} is a SuppressionEmailBackend too (a loop).',
                hint="Point it at the mailer that really sends.",
                id="meisa.E020",
            )
        ]
    return []


def policy_messages() -> list[CheckMessage]:
    """E022 for an unknown SUPPRESSION_ALL_SUPPRESSED policy."""
    return _choice_messages("SUPPRESSION_ALL_SUPPRESSED", POLICIES, "meisa.E022")


def _choice_messages(name: str, choices: tuple[str, str], check_id: str) -> list[CheckMessage]:
    value = conf.get_setting(name)
    if isinstance(value, str) and value.lower() in choices:
        return []
    hint = f'Use "{choices[0]}" (the default) or "{choices[1]}".'
    return [Error(f'MEISA["{name}"] is {value!r}.', hint=hint, id=check_id)]


def number_messages() -> list[CheckMessage]:
    """E024 for each numeric suppression setting out of range."""
    messages: list[CheckMessage] = []
    for name, (low, high, integer) in NUMBERS.items():
        value = conf.get_setting(name)
        if not conf.is_number(value, minimum=low, maximum=high, integer=integer):
            bounds = f"between {low} and {high}" if high is not None else f">= {low}"
            what = "an integer" if integer else "a number"
            messages.append(
                Error(f'MEISA["{name}"] must be {what} {bounds}, not {value!r}.', id="meisa.E024")
            )
    return messages


def fail_open_messages() -> list[CheckMessage]:
    """W020 when the backend is allowed to send unfiltered while the table is unreadable."""
    if not conf.get_setting("SUPPRESSION_FAIL_OPEN"):
        return []
    return [
        Warning(
            'MEISA["SUPPRESSION_FAIL_OPEN"] is True: while the suppression table can\'t be '
            "read, mail goes out unfiltered, possibly to unsubscribed addresses.",
            hint="Leave it False (fail closed) unless losing mail is worse for you.",
            id="meisa.W020",
        )
    ]


def not_installed_messages() -> list[CheckMessage]:
    """W021 when no mail path goes through the wrapper (the mirror then filters nothing)."""
    if is_wrapper(getattr(settings, "EMAIL_BACKEND", "")):
        return []
    mailers = getattr(settings, "MAILERS", None)
    if isinstance(mailers, dict) and any(
        isinstance(c, dict) and is_wrapper(c.get("BACKEND", "")) for c in mailers.values()
    ):
        return []
    return [
        Warning(
            "No email backend goes through SuppressionEmailBackend, so suppressed addresses "
            "are not filtered from outgoing mail.",
            hint=f'Set EMAIL_BACKEND = "{WRAPPER}" and MEISA["EMAIL_BACKEND"] to your real '
            "backend (or use the wrapper in MAILERS on Django 6.1).",
            id="meisa.W021",
        )
    ]


def freshness_setting_messages() -> list[CheckMessage]:
    """E040 for an unknown SUPPRESSION_STALE_POLICY; E041 for a bad SUPPRESSION_MAX_AGE."""
    messages = _choice_messages("SUPPRESSION_STALE_POLICY", STALE_POLICIES, "meisa.E040")
    age = conf.get_setting("SUPPRESSION_MAX_AGE")
    if age is not None and not conf.is_number(age, minimum=1):
        messages.append(
            Error(
                f'MEISA["SUPPRESSION_MAX_AGE"] must be None or a number of seconds >= 1, '
                f"not {age!r}.",
                hint="None (the default) means 4 x SUPPRESSION_REFRESH_INTERVAL.",
                id="meisa.E041",
            )
        )
    return messages


def mirror_messages(databases: Iterable[str] | None) -> list[CheckMessage]:
    """W040 never loaded, W041 stale, W042 unreadable: the mirror's state, when the
    database holding it is among ``databases`` (the ``check --database`` names)."""
    using = router.db_for_read(SuppressionRefreshState)
    if databases is None or using not in databases or not _migrated(using):
        return []  # before the first migrate (which runs these checks): nothing to say yet
    try:
        last = last_success_at(using)
    except DatabaseError as err:
        return [
            Warning(
                f"The suppression refresh state can't be read ({type(err).__name__}).",
                hint="Run 'manage.py migrate', then 'manage.py meisa_refresh_suppressions'.",
                id="meisa.W042",
            )
        ]
    state = MirrorFreshness(last_success_at=last, max_age=max_age())
    if not state.loaded:
        return [
            Warning(
                f"The suppression mirror {describe(state)}: SuppressionEmailBackend sends "
                "nothing until it is (unless SUPPRESSION_FAIL_OPEN).",
                hint=FIX,
                id="meisa.W040",
            )
        ]
    if state.stale:
        return [Warning(f"The suppression mirror {describe(state)}.", hint=FIX, id="meisa.W041")]
    return []


def _migrated(using: str) -> bool:
    try:
        with connections[using].cursor() as cursor:
            tables = connections[using].introspection.table_names(cursor)
    except DatabaseError:
        return True  # unreachable: let the read below report it (W042)
    return SuppressionRefreshState._meta.db_table in tables
