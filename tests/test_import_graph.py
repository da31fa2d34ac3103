"""The package's import graph, read from source: no cycle, entry points never imported, layers."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import django_meisa

ROOT = Path(django_meisa.__file__).parent
#: Modules nothing inside the package may import (they import the package).
ENTRY_POINTS = ("tasks", "admin", "management", "backends")
#: Layer of each top-level name; a module imports only its own layer or lower ones.
LAYERS = {
    "conf": 0, "exceptions": 0, "signals": 0, "client": 0, "payload": 0, "retry": 0,
    "leases": 0, "models": 0, "stats": 0, "publish": 0,
    "contacts": 1,
    "suppression": 2,
    "backfill": 3,
    "health": 4,  # django-health-check plugins: read stats and the suppression mirror
    "migrations": 4,  # data migrations may call any layer
}  # fmt: skip


def module_name(path: Path) -> str:
    parts = ["django_meisa", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, name: str, known: set[str]) -> set[str]:
    """Every django_meisa module ``path`` imports, anywhere in it (function-local too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            # ``from pkg import sub`` imports the module pkg.sub; ``from pkg import name``
            # reads an attribute of pkg itself.
            # ``__version__`` is a constant of the root facade, not code it imports.
            found.update(
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
                if (base, alias.name) != ("django_meisa", "__version__")
            )
    return {module for module in found if module in known and module != name}


def build_graph() -> dict[str, set[str]]:
    files = {module_name(path): path for path in ROOT.rglob("*.py")}
    known = set(files)
    return {name: imported_modules(path, name, known) for name, path in files.items()}


GRAPH = build_graph()


def top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def is_inside(module: str) -> bool:
    """True for the package's own modules (not entry points, the root or the test kit)."""
    return top(module) not in (*ENTRY_POINTS, "", "apps", "checks", "testing")


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_sees_function_local_imports():
    assert "django_meisa.checks" in GRAPH["django_meisa.apps"]
    assert "django_meisa.contacts.receivers" in GRAPH["django_meisa.apps"]  # inside ready()


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle():
    assert find_cycle(GRAPH) is None


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_no_module_inside_the_package_imports_an_entry_point(entry):
    offenders = sorted(
        f"{name} -> {imported}"
        for name, imports in GRAPH.items()
        if is_inside(name)
        for imported in imports
        if top(imported) == entry
    )
    assert offenders == []


def test_every_import_points_down_the_layers():
    offenders = sorted(
        f"{name} -> {imported}"
        for name, imports in GRAPH.items()
        if top(name) in LAYERS
        for imported in imports
        if LAYERS.get(top(imported), 99) > LAYERS[top(name)]
    )
    assert offenders == []


def test_every_inside_module_has_a_layer():
    unlayered = sorted({top(name) for name in GRAPH if is_inside(name)} - set(LAYERS))
    assert unlayered == []


def test_only_management_commands_import_management_commands():
    # The admin once imported a helper from a command: helpers belong in the layers.
    offenders = sorted(
        f"{name} -> {imported}"
        for name, imports in GRAPH.items()
        if top(name) != "management"
        for imported in imports
        if top(imported) == "management"
    )
    assert offenders == []


def test_tasks_import_before_django_is_set_up():
    # A Celery app module imports the beat-schedule helpers from on_after_configure,
    # before Django's apps are ready (example_project/celery.py, docs/howto/production.md).
    code = (
        "from django_meisa.tasks import suppression_beat_schedule, sync_beat_schedule; "
        "print(sorted(sync_beat_schedule()))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "meisa-sweep-pending-syncs" in done.stdout
