"""The package metadata agrees with the test matrix, and the release files are in place."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import django_meisa

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def matrix_constant(name: str) -> list[str]:
    """A list constant of noxfile.py (read, not imported: importing it edits PATH)."""
    for node in ast.parse((ROOT / "noxfile.py").read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == name:
            return ast.literal_eval(node.value)
    raise LookupError(name)


def test_the_version_is_single_sourced():
    assert "version" not in PROJECT
    assert "version" in PROJECT["dynamic"]
    dynamic = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert dynamic["dynamic"]["version"] == {"attr": "django_meisa.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+((a|b|rc)\d+)?", django_meisa.__version__)


def test_classifiers_name_exactly_the_tested_versions():
    classifiers = PROJECT["classifiers"]
    djangos = {c.rsplit(" ", 1)[1] for c in classifiers if c.startswith("Framework :: Django ::")}
    pythons = {
        c.rsplit(" ", 1)[1]
        for c in classifiers
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    }
    assert djangos == set(matrix_constant("DJANGOS"))
    assert pythons == set(matrix_constant("PYTHONS"))


def test_python_and_django_bounds_follow_the_matrix():
    pythons, djangos = matrix_constant("PYTHONS"), matrix_constant("DJANGOS")
    assert PROJECT["requires-python"] == f">={pythons[0]}"
    newest_major, newest_minor = djangos[-1].split(".")
    upper = f"{newest_major}.{int(newest_minor) + 1}"
    django_requirement = next(d for d in PROJECT["dependencies"] if d.startswith("django"))
    assert django_requirement.replace(" ", "") == f"django>={djangos[0]},<{upper}"


def test_the_demo_extra_adds_nothing_to_the_core_dependencies():
    assert PROJECT["optional-dependencies"]["demo"] == []


def test_release_files_exist():
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert PROJECT["license"] == "MIT"
    assert "## [Unreleased]" in (ROOT / "CHANGELOG.md").read_text()
    security = (ROOT / "SECURITY.md").read_text()
    assert "key leak" in security
    assert "suppression bypass" in security
