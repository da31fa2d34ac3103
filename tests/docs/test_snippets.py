"""Every fenced Python block in docs/ and the README runs, and every settings block passes check.

Blocks of a page run in order in one namespace, on the test settings and database:

- a block whose first line names ``settings.py`` is a settings snippet: its UPPERCASE
  names are applied with ``override_settings`` and ``manage.py check`` must report no
  error and no warning (``INSTALLED_APPS`` must include django_meisa);
- a block whose first line names another file (``# accounts/meisa.py``) becomes that
  importable module, so settings snippets can point ``MAPPER`` and friends at it;
- any other block is executed; afterwards the ``test_*`` functions it defined are called
  (``meisa_fake`` is the only fixture provided).
"""

from __future__ import annotations

import ast
import copy
import inspect
import sys
import types
from contextlib import contextmanager
from typing import Any

import pytest
from celery import _state as celery_state
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

from django_meisa.testing import fake_meisa
from tests.docs.snippets import ROOT, Block, pages, python_blocks

PAGES = [page for page in pages() if python_blocks(page)]
# Settings the check can't meaningfully take from a snippet: the app registry is built.
NOT_OVERRIDDEN = {"INSTALLED_APPS"}
# What a site that followed the production checklist already has: a settings snippet is
# checked on top of it (the test settings themselves send through locmem, unwrapped).
SITE_BASELINE = {"EMAIL_BACKEND": "django_meisa.backends.SuppressionEmailBackend"}


@pytest.fixture
def snippet_environment(monkeypatch):
    """Environment variables the snippets read, and a Celery app restored afterwards."""
    monkeypatch.setenv("MEISA_API_KEY", "meisa_test_key")
    current, default = celery_state.get_current_app(), celery_state.default_app
    yield monkeypatch
    celery_state._set_current_app(current)
    celery_state.set_default_app(default)


@pytest.mark.django_db
@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_python_snippets_run(page, snippet_environment):
    namespace: dict[str, Any] = {"__name__": "docs_snippet"}
    for block in python_blocks(page):
        try:
            run_block(block, namespace, snippet_environment)
        except Exception as err:
            pytest.fail(f"{block.where}: {type(err).__name__}: {err}\n\n{block.code}")
    run_defined_tests(namespace)


def run_block(block: Block, namespace: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Run one block as its kind says."""
    code = compile(block.code, block.where, "exec")
    if block.kind == "module":
        install_module(block.module_name, code, monkeypatch)
    elif block.kind == "settings":
        check_settings(block, code)
    else:
        exec(code, namespace)  # noqa: S102 - our own documentation


def install_module(name: str, code: types.CodeType, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``name`` importable with the block's code (parents as empty packages)."""
    parts = name.split(".")
    for depth in range(1, len(parts)):
        parent = ".".join(parts[:depth])
        if parent not in sys.modules:
            package = types.ModuleType(parent)
            package.__path__ = []
            monkeypatch.setitem(sys.modules, parent, package)
    module = types.ModuleType(name)
    module.__path__ = []  # a package's __init__.py may be followed by its submodules
    monkeypatch.setitem(sys.modules, name, module)
    if len(parts) > 1:
        monkeypatch.setattr(sys.modules[".".join(parts[:-1])], parts[-1], module, raising=False)
    exec(code, module.__dict__)  # noqa: S102 - our own documentation


def check_settings(block: Block, code: types.CodeType) -> None:
    """Apply the block's settings on top of the test settings and run ``manage.py check``."""
    names = assigned_settings(block.code)
    names_now = [name for name in dir(settings) if name.isupper()]
    namespace = {name: copy.copy(getattr(settings, name)) for name in names_now}
    namespace.update(SITE_BASELINE)
    namespace["MEISA"] = copy.deepcopy(namespace["MEISA"])  # a block may set one key
    exec(code, namespace)  # noqa: S102 - our own documentation
    if "INSTALLED_APPS" in names:
        assert "django_meisa" in namespace["INSTALLED_APPS"]
    # A MAILERS snippet (Django 6.1) replaces EMAIL_BACKEND: no baseline next to it.
    baseline = set() if "MAILERS" in names else set(SITE_BASELINE)
    values = {name: namespace[name] for name in (names | baseline) - NOT_OVERRIDDEN}
    with override_settings(**values):
        # The configuration checks; the database-tagged ones (which Django 6.1's check
        # runs by default) would look at the test database's state, not at the snippet.
        call_command("check", fail_level="WARNING", verbosity=0, databases=[])


def assigned_settings(source: str) -> set[str]:
    """The UPPERCASE names a settings block assigns (or assigns a key of) at top level."""
    names = set()
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        targets = [t.value if isinstance(t, ast.Subscript) else t for t in targets]
        names |= {t.id for t in targets if isinstance(t, ast.Name) and t.id.isupper()}
    return names


def run_defined_tests(namespace: dict[str, Any]) -> None:
    """Call the test functions a page defined, as pytest would with the fixtures we offer."""
    for name, function in list(namespace.items()):
        if not (name.startswith("test_") and inspect.isfunction(function)):
            continue
        parameters = set(inspect.signature(function).parameters)
        if parameters - {"meisa_fake"}:
            continue
        with offered_fixtures(parameters) as fixtures:
            function(**fixtures)


@contextmanager
def offered_fixtures(names: set[str]):
    if "meisa_fake" in names:
        with fake_meisa() as fake:
            yield {"meisa_fake": fake}
    else:
        yield {}
