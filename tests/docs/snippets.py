"""Find the docs' fenced Python blocks, and tell settings snippets from modules from code."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SKIPPED_FOLDERS = {"_build", "_generated", "_ext"}
# ```python (or ```py), possibly indented inside a list item; MyST directives such as
# ```{code-block} python are not collected: that is how a page opts a block out.
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,})(?P<lang>python|py)[ \t]*\n"
    r"(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
FIRST_LINE_PATH = re.compile(r"^#\s*(?P<path>[\w./-]+\.py)\b")


@dataclass
class Block:
    """One fenced Python block: where it is, what it is, and its code."""

    page: Path
    line: int
    code: str

    @property
    def path(self) -> str | None:
        """The file named on the block's first line (``# mysite/celery.py``), if any."""
        match = FIRST_LINE_PATH.match(self.code)
        return match.group("path") if match else None

    @property
    def kind(self) -> str:
        """ "settings" (its names go through manage.py check), "module" or "code"."""
        if self.path is None:
            return "code"
        return "settings" if Path(self.path).name == "settings.py" else "module"

    @property
    def module_name(self) -> str:
        """The dotted name a ``module`` block is importable as."""
        parts = Path(self.path or "").with_suffix("").parts
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def pages() -> list[Path]:
    """The README and every Markdown page of the docs."""
    found = [
        path
        for path in sorted(DOCS.rglob("*.md"))
        if not SKIPPED_FOLDERS & set(path.relative_to(DOCS).parts)
    ]
    return [ROOT / "README.md", *found]


def python_blocks(page: Path) -> list[Block]:
    """The page's fenced Python blocks, in order, dedented."""
    text = page.read_text()
    return [
        Block(page, text.count("\n", 0, match.start()) + 2, textwrap.dedent(match.group("body")))
        for match in FENCE.finditer(text)
    ]
