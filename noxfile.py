"""The Python x Django support matrix and CI's test sessions: the one source of truth.

``nox -l`` lists every session. CI (``.ci/run``) runs ``make test`` (the 3.11 x 5.2
corner), then the sessions tagged ``ci-lane`` (three more corners and three database
corners) in parallel lanes beside the other ``ci`` sessions (integration, user models,
browser). ``nox -s tests`` runs the whole matrix (eight virtualenvs, built with uv).
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import nox

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
DJANGOS = ["5.2", "6.0", "6.1"]
# Django 6.x dropped Python 3.10 and 3.11.
MIN_PYTHON = {"5.2": (3, 10), "6.0": (3, 12), "6.1": (3, 12)}
# make test runs this corner (CI's python3 and pyproject's Django); every other corner is
# tagged "matrix" (make matrix runs them all).
MAKE_TEST_CORNER = ("3.11", "5.2")
# CI's budget (20 minutes on a 2-core machine) holds one more corner per Django release,
# at the oldest and newest Pythons: with make test's, every release and every Python.
CI_CORNERS = {("3.10", "5.2"), ("3.12", "6.0"), ("3.13", "6.1")}
# The interpreter for the service-backed sessions: the same as make test's.
SERVICE_PYTHON = "3.11"
UNIT_MARKERS = "not integration and not browser"
ARTIFACTS = Path("test-artifacts")

nox.options.default_venv_backend = "uv|venv"
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["lint", "types", "tests"]


def _put_pyenv_on_path() -> None:
    """Let nox find python3.10 ... python3.13 from pyenv without pyenv's shims."""
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = sorted(glob.glob(os.path.join(root, "versions", "3.*", "bin")), reverse=True)
    os.environ["PATH"] = os.pathsep.join([*found, os.environ.get("PATH", "")])


_put_pyenv_on_path()


def _supported(python: str, django: str) -> bool:
    """True when this Django release supports this Python."""
    major, minor = (int(part) for part in python.split("."))
    return (major, minor) >= MIN_PYTHON[django]


def _corner_tags(python: str, django: str) -> list[str]:
    if (python, django) == MAKE_TEST_CORNER:
        return []
    return ["matrix", "ci-lane"] if (python, django) in CI_CORNERS else ["matrix"]


def _matrix() -> list[nox.param]:
    """Every supported (python, django) pair; ``matrix`` tags those make test doesn't run."""
    return [
        nox.param(
            python,
            django,
            id=f"{python}-django{django}",
            tags=_corner_tags(python, django),
        )
        for python in PYTHONS
        for django in DJANGOS
        if _supported(python, django)
    ]


def _install(session: nox.Session, django: str | None = None) -> None:
    """Install the project with its dev and mariadb extras, pinning Django if given."""
    pins = [f"django~={django}.0"] if django else []
    session.install("--quiet", "-e", ".[dev,mariadb]", *pins)
    session.run("python", "--version")
    session.run("python", "-m", "django", "--version")


def _pytest(session: nox.Session, name: str, *args: str, **env: str) -> None:
    """Run pytest with a JUnit report named after the session, so CI can count tests."""
    junit = ARTIFACTS / "junit" / f"{name}.xml"
    session.run("pytest", f"--junitxml={junit}", *args, *session.posargs, env=env)


@nox.session(python=SERVICE_PYTHON)
def lint(session: nox.Session) -> None:
    """ruff: lint rules and formatting."""
    session.install("--quiet", "ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=SERVICE_PYTHON)
def types(session: nox.Session) -> None:
    """mypy with django-stubs."""
    _install(session)
    session.run("mypy")


@nox.session
@nox.parametrize(("python", "django"), _matrix())
def tests(session: nox.Session, django: str) -> None:
    """The unit suite on one (python, django) corner of the support matrix (SQLite)."""
    _install(session, django)
    name = f"unit-py{session.python}-django{django}"
    # xdist workers: the suite mostly waits (threads, sockets, sleeps), so two workers
    # per corner and two corners at a time keep both cores busy (.ci/run's lanes).
    workers = os.environ.get("MEISA_TEST_WORKERS", "2")
    _pytest(session, name, "-q", "-n", workers, "-m", UNIT_MARKERS)


# The unit suite on each server database, as the owner and as a DML-only role (CI
# creates the roles; tests/db_roles.py explains the role mode). Each corner has its own
# database names, so a developer's concurrent run can't collide.
DML_ROLE = {"MEISA_TEST_DB_ROLE": "meisa_ci_dml"}
# The integration flows CI runs on MariaDB too (the fault, publisher and HTTP tests are
# about brokers and processes, not the database: PostgreSQL's run covers them).
INTEGRATION_FLOWS = ["contact_sync", "suppression_mail", "backfill"]
# The modules that run under each custom user model (MEISA_TEST_USER_MODEL).
USER_MODEL_TESTS = ["tests/test_user_models.py", "tests/test_operations_user_models.py"]
DATABASE_CORNERS = {
    "postgres": {"MEISA_TEST_DATABASE": "postgres", "MEISA_TEST_PG_NAME": "meisa_nox"},
    "postgres-dml": {
        "MEISA_TEST_DATABASE": "postgres",
        "MEISA_TEST_PG_NAME": "meisa_nox_dml",
        **DML_ROLE,
    },
    "mariadb": {"MEISA_TEST_DATABASE": "mariadb", "MEISA_TEST_MYSQL_NAME": "meisa_nox"},
    "mariadb-dml": {  # also InnoDB's own isolation level, as many MySQL sites keep it
        "MEISA_TEST_DATABASE": "mariadb",
        "MEISA_TEST_MYSQL_NAME": "meisa_nox_dml",
        "MEISA_TEST_MYSQL_ISOLATION": "repeatable read",
        **DML_ROLE,
    },
}


# CI runs every corner but the PostgreSQL owner: the DML-only role on PostgreSQL runs the
# same tests with fewer rights (and the same isolation level), so the owner adds no test.
CI_SKIPS_CORNERS = {"postgres"}


@nox.session(python=SERVICE_PYTHON, tags=["ci"])
@nox.parametrize(
    "corner",
    [
        nox.param(corner, tags=[] if corner in CI_SKIPS_CORNERS else ["ci-lane"])
        for corner in DATABASE_CORNERS
    ],
)
def databases(session: nox.Session, corner: str) -> None:
    """The unit suite on the local PostgreSQL or MariaDB server, as owner or DML-only role."""
    _install(session)
    # One test database per xdist worker (test_<name>_gwN): both cores, half the time.
    workers = os.environ.get("MEISA_TEST_WORKERS", "2")
    # Tests that can't touch a database already ran on SQLite (make test): skip them.
    env = {**DATABASE_CORNERS[corner], "MEISA_TEST_DB_TESTS_ONLY": "1"}
    name = f"unit-py{session.python}-{corner}"
    _pytest(session, name, "-q", "-n", workers, "-m", UNIT_MARKERS, **env)


@nox.session(python=SERVICE_PYTHON, tags=["ci"])
def user_models(session: nox.Session) -> None:
    """The user-model tests with each custom user model, on every database."""
    _install(session)
    databases = {
        "sqlite": {},
        "postgres": DATABASE_CORNERS["postgres"],
        "mariadb": DATABASE_CORNERS["mariadb"],
    }
    for model in ("uuid", "email"):
        for database, env in databases.items():
            name = f"user-model-{model}-{database}"
            env = {**env, "MEISA_TEST_USER_MODEL": model}
            _pytest(session, name, "-q", *USER_MODEL_TESTS, **env)


@nox.session(python=SERVICE_PYTHON, tags=["ci"])
def integration(session: nox.Session) -> None:
    """Real PostgreSQL, Redis, RabbitMQ, Celery worker and beat processes, fake Meisa over HTTP."""
    _install(session)
    _pytest(session, "integration", "-v", "-m", "integration", "tests/integration")


@nox.session(python=SERVICE_PYTHON, tags=["ci"])
def integration_mariadb(session: nox.Session) -> None:
    """The integration flows (sync, a refresh with a send during it, backfill) on MariaDB."""
    _install(session)
    flows = [f"tests/integration/test_{name}.py" for name in INTEGRATION_FLOWS]
    env = {"MEISA_IT_DATABASE": "mariadb"}
    _pytest(session, "integration-mariadb", "-v", "-m", "integration", *flows, **env)


@nox.session(python=SERVICE_PYTHON, tags=["ci"])
def browser(session: nox.Session) -> None:
    """The admin in headless Chromium (Debian's /usr/bin/chromium) through Playwright."""
    _install(session)
    _pytest(session, "browser", "-v", "-s", "-m", "browser", "tests/browser")
