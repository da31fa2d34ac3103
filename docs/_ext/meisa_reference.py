"""Generate the settings and system-checks reference pages from the code, at build time.

The settings page comes from ``django_meisa/conf.py``: the ``DEFAULTS`` dict, its ``#``
section comments and the ``#:`` comment above each key. The checks page comes from every
``meisa.*`` check id in the package's source, with the message and hint next to it. Both
are written into ``docs/reference/_generated/`` when Sphinx starts, and included by
``reference/settings.md`` and ``reference/checks.md``; ``tests/docs/test_reference.py``
fails when a setting or a check has no text to show.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parents[2] / "django_meisa"
CHECK_ID = re.compile(r"^meisa\.([EWC])\d{3}$")
LEVELS = {"E": "Error", "W": "Warning", "C": "Critical"}


# Settings ---------------------------------------------------------------------------------


@dataclass
class Setting:
    """One key of ``DEFAULTS`` with its section and its ``#:`` description."""

    name: str
    section: str
    description: str
    default: Any = None


def settings_from_source(source: str | None = None) -> list[Setting]:
    """Read conf.py's ``DEFAULTS`` block line by line, keeping comments as documentation.

    A key with no ``#:`` comment right above it shares the description of the key on the
    line just before it (a group such as FIRST_NAME_FIELD / LAST_NAME_FIELD).
    """
    lines = (source or (PACKAGE / "conf.py").read_text()).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("DEFAULTS"))
    found: list[Setting] = []
    section, pending, previous = "", [], None
    for line in lines[start + 1 :]:
        text = line.strip()
        if text.startswith("}"):
            break
        if text.startswith("#:"):
            pending.append(text[2:].strip())
        elif text.startswith("#"):
            section = _section_title(text[1:].strip(), section, pending)
            pending, previous = [], None
        elif match := re.match(r'"([A-Z0-9_]+)":', text):
            described = " ".join(pending) or (previous.description if previous else "")
            previous = Setting(match.group(1), section, described)
            found.append(previous)
            pending = []
        else:  # a value continued on the next line
            previous = previous if text else None
    return found


def _section_title(text: str, section: str, pending: list[str]) -> str:
    # A section comment may wrap onto a second "#" line: "(eligibility.py,\n# relations.py)".
    if section and section.count("(") > section.count(")"):
        return f"{section} {text}"
    return text


def render_settings() -> str:
    """The settings reference, as Markdown."""
    from django_meisa.conf import DEFAULTS

    out = []
    section = None
    for setting in settings_from_source():
        title = _plain_section(setting.section)
        if title != section:
            section = title
            out += [f"## {title}", ""]
        default = DEFAULTS[setting.name]
        out += [
            f"### `{setting.name}`",
            "",
            f"Default: `{default!r}`",
            "",
            _markdown(setting.description) or "*Not documented yet.*",
            "",
        ]
    return "\n".join(out)


def _plain_section(title: str) -> str:
    # "Contact sync: the worker (sync.py, tasks.py)" -> "Contact sync: the worker".
    return re.sub(r"\s*\([^)]*\)\s*$", "", title).strip() or "General"


def _markdown(text: str) -> str:
    # The comments are plain text: keep "2**retries" or "*" from turning into emphasis.
    return re.sub(r"([*_`\\<>\[\]])", r"\\\1", text)


# System checks ---------------------------------------------------------------------------


@dataclass
class Check:
    """Everything the source says about one check id."""

    id: str
    modules: set[str] = field(default_factory=set)
    messages: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)
    reported_by: list[str] = field(default_factory=list)
    #: (function, first paragraph of its docstring) for each function that reports it.
    checked_by: list[tuple[str, str]] = field(default_factory=list)

    @property
    def level(self) -> str:
        return LEVELS[self.id[6]]


def checks_from_source() -> dict[str, Check]:
    """Every ``meisa.X000`` id used as a string in the package, with its messages."""
    checks: dict[str, Check] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        _ModuleScan(_module_name(path), tree, checks).visit(tree)
    return dict(sorted(checks.items()))


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


class _ModuleScan(ast.NodeVisitor):
    """Finds check ids in calls: ``Error(msg, hint=..., id="meisa.E001")`` or a helper."""

    def __init__(self, module: str, tree: ast.Module, checks: dict[str, Check]) -> None:
        self.module = module
        self.checks = checks
        self.strings = _module_strings(tree)
        self.docs = {
            node.name: _rst_to_md((ast.get_docstring(node) or "").split("\n\n")[0])
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef)
        }
        self.function = ""

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        outer, self.function = self.function, node.name
        self.generic_visit(node)
        self.function = outer

    def visit_Call(self, node: ast.Call) -> None:
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            if isinstance(arg, ast.Constant) and CHECK_ID.match(str(arg.value)):
                self._record(str(arg.value), node)
        self.generic_visit(node)

    def _record(self, check_id: str, call: ast.Call) -> None:
        check = self.checks.setdefault(check_id, Check(check_id))
        check.modules.add(self.module)
        where = (f"{self.module}.{self.function}", self.docs.get(self.function, ""))
        if self.function and where not in check.checked_by:
            check.checked_by.append(where)
        name = ast.unparse(call.func).rsplit(".", 1)[-1]
        keywords = {k.arg: k.value for k in call.keywords}
        if name in {"Error", "Warning", "Critical", "CheckMessage"} and call.args:
            _add(check.messages, self._text(call.args[0]))
            if "hint" in keywords:
                _add(check.hints, self._text(keywords["hint"]))
            return
        context = ", ".join(repr(self._text(a)) for a in call.args if not _is_id(a))
        doc = self.docs.get(name, "")
        _add(check.reported_by, f"`{name}({context})`" + (f": {doc}" if doc else ""))

    def _text(self, node: ast.expr) -> str:
        """A message as the user sees it, with ``…`` for the parts filled in at run time."""
        if isinstance(node, ast.Constant):
            return str(node.value)
        if isinstance(node, ast.JoinedStr):
            return "".join(self._text(v) for v in node.values)
        if isinstance(node, ast.FormattedValue):
            return "…"
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self._text(node.left) + self._text(node.right)
        if isinstance(node, ast.Name) and node.id in self.strings:
            return self.strings[node.id]
        return "…"


def _module_strings(tree: ast.Module) -> dict[str, str]:
    strings = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
            if isinstance(target, ast.Name) and isinstance(value, ast.Constant):
                strings[target.id] = str(value.value)
    return strings


def _is_id(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and bool(CHECK_ID.match(str(node.value)))


def _rst_to_md(text: str) -> str:
    return " ".join(text.replace("``", "`").split())


def _add(items: list[str], text: str) -> None:
    text = " ".join(text.split())
    if text and text not in items:
        items.append(text)


def render_checks() -> str:
    """The system-checks reference, as Markdown."""
    out = []
    for check in checks_from_source().values():
        out += [f"### `{check.id}`", "", f"**{check.level}**", ""]
        out += [f"- Message: {_markdown(m)}" for m in check.messages]
        out += [f"- Hint: {_markdown(h)}" for h in check.hints]
        out += [f"- Reported by {r}" for r in check.reported_by]
        out += [
            f"- Checked in `{name}()`" + (f": {doc}" if doc else "")
            for name, doc in check.checked_by
        ]
        out += [""]
    return "\n".join(out)


# Management commands --------------------------------------------------------------------

COMMANDS = ("meisa_refresh_suppressions", "meisa_backfill", "meisa_sync", "meisa_sweep")


def command_names() -> list[str]:
    """django-meisa's management commands, the documented ones first."""
    found = sorted(p.stem for p in (PACKAGE / "management" / "commands").glob("meisa_*.py"))
    return [c for c in COMMANDS if c in found] + [c for c in found if c not in COMMANDS]


def render_commands() -> str:
    """Each command's help text and usage, from its own argument parser."""
    import os

    from django.core.management import load_command_class

    os.environ["COLUMNS"] = "88"  # argparse wraps to the terminal; keep the page stable
    out = []
    for name in command_names():
        command = load_command_class("django_meisa", name)
        usage = command.create_parser("manage.py", name).format_help()
        out += [f"## `{name}`", "", _markdown(str(command.help)), "", "```text", usage, "```", ""]
    return "\n".join(out)


# Sphinx ----------------------------------------------------------------------------------


def write_pages(app: Any = None) -> None:
    """Write both generated pages (``builder-inited``); unchanged files are left alone."""
    folder = Path(__file__).resolve().parents[1] / "reference" / "_generated"
    folder.mkdir(exist_ok=True)
    pages = {
        "settings.md": render_settings(),
        "checks.md": render_checks(),
        "commands.md": render_commands(),
    }
    for name, text in pages.items():
        path = folder / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


def setup(app: Any) -> dict[str, Any]:
    """Register the generator with Sphinx."""
    app.connect("builder-inited", write_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
