"""Sphinx configuration for django-meisa's documentation (Furo theme, MyST Markdown pages)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE / "_ext")]
# autodoc imports the models: Django must be set up, on the test suite's settings.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

import django_meisa  # noqa: E402

project = "django-meisa"
author = "django-meisa contributors"
copyright = "2026, django-meisa contributors"
release = django_meisa.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "meisa_reference",  # docs/_ext: the settings and checks pages, from the code
]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "reference/_generated", "Thumbs.db", ".DS_Store"]

# MyST: headings get GitHub-style anchors, so [text](page.md#some-heading) links resolve
# (and a wrong one is a warning, which -W turns into an error).
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "deflist", "fieldlist"]
# Settings, paths and JSON are copied from these pages: keep quotes straight.
smartquotes = False

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}

html_theme = "furo"
html_title = f"django-meisa {release}"
html_static_path: list[str] = []
html_show_sourcelink = False

# No network at build time: no intersphinx. MyST checks links between our own pages
# (above); `sphinx-build -b linkcheck` would check external ones, and is not run by CI.
linkcheck_ignore = [r"^https?://localhost", r"^http://127\.0\.0\.1"]
