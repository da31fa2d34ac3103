"""The generated reference pages cover every setting, check and command, each with text."""

from __future__ import annotations

import re
import sys

from django.core.checks import registry

from django_meisa import conf
from tests.docs.snippets import DOCS, ROOT

sys.path.insert(0, str(DOCS / "_ext"))
import meisa_reference

ID = re.compile(r"""["'](meisa\.[EWC]\d{3})["']""")


def test_the_settings_page_lists_every_setting_in_order():
    names = [setting.name for setting in meisa_reference.settings_from_source()]
    assert names == list(conf.DEFAULTS)


def test_every_setting_has_a_doc_comment():
    undocumented = [s.name for s in meisa_reference.settings_from_source() if not s.description]
    assert undocumented == [], 'add a "#:" comment above these keys in conf.DEFAULTS'


def test_every_check_id_in_the_source_is_on_the_checks_page():
    source = "".join(p.read_text() for p in (ROOT / "django_meisa").rglob("*.py"))
    page = meisa_reference.render_checks()
    assert {f"### `{i}`" for i in ID.findall(source)} <= set(page.splitlines())


def test_every_check_has_something_to_say():
    silent = [
        check.id
        for check in meisa_reference.checks_from_source().values()
        if not (check.messages or check.reported_by)
    ]
    assert silent == []


def test_every_registered_check_lives_in_a_scanned_module():
    ours = [c for c in registry.registry.get_checks() if c.__module__.startswith("django_meisa")]
    scanned = {m for check in meisa_reference.checks_from_source().values() for m in check.modules}
    assert ours
    assert {c.__module__ for c in ours} <= scanned


def test_every_command_has_help_and_usage():
    page = meisa_reference.render_commands()
    for name in meisa_reference.command_names():
        assert f"## `{name}`" in page
        assert f"usage: manage.py {name}" in page


def test_the_section_comments_of_defaults_point_at_what_exists():
    # "# Contact sync: mapping (see contacts/mapping.py ...)": the files and pages named exist.
    source = (ROOT / "django_meisa" / "conf.py").read_text()
    block = source[source.index("DEFAULTS") : source.index("\n}\n")]
    sections = [line.strip() for line in block.splitlines() if line.strip().startswith("# ")]
    files = {p.relative_to(ROOT).as_posix() for p in ROOT.glob("[dd]*/**/*.*")}
    named = [n for line in sections for n in re.findall(r"[\w/.-]+\.(?:py|md)\b", line)]
    assert named
    assert [n for n in named if not any(f"/{f}".endswith(f"/{n}") for f in files)] == []
    assert [line for line in sections if "README" in line] == []


def test_every_module_the_readme_layer_table_names_exists():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| Layer | Sync path |") :].split("\n\n")[0]
    package = ROOT / "django_meisa"
    missing = []
    for row in table.splitlines()[2:]:
        layer, path = (cell.strip().strip("`/") for cell in row.split("|")[1:3])
        homes = [package / layer, package, package / "contacts"]  # a row may name lower layers
        for name in set(re.findall(r"`([a-z_/]+)`", path)) - {"sync_contact", "sync_contact_now"}:
            if not any((home / f"{name}.py").exists() or (home / name).is_dir() for home in homes):
                missing.append(f"{layer}: {name}")
    assert missing == []
