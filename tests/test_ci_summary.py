"""CI's summary (.ci/summary.py): which tests no corner ran."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

SUMMARY = Path(__file__).resolve().parents[1] / ".ci" / "summary.py"


def load_summary() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ci_summary", SUMMARY)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_report(path: Path, cases: list[tuple[str, str, bool]]) -> Path:
    rows = "".join(
        f'<testcase classname="{cls}" name="{name}">'
        + ('<skipped message="why"/>' if skipped else "")
        + "</testcase>"
        for cls, name, skipped in cases
    )
    path.write_text(f'<testsuites><testsuite name="pytest">{rows}</testsuite></testsuites>')
    return path


def test_a_module_skipped_in_one_corner_counts_as_run_where_its_tests_ran(tmp_path):
    # pytest reports a module-level skip as classname="" name="<module>"
    old = write_report(tmp_path / "py310.xml", [("", "tests.release.test_metadata", True)])
    new = write_report(
        tmp_path / "py311.xml", [("tests.release.test_metadata", "test_version", False)]
    )
    assert load_summary().run_nowhere([old, new]) == []


def test_a_module_skipped_everywhere_is_listed(tmp_path):
    a = write_report(tmp_path / "a.xml", [("", "tests.test_x", True)])
    b = write_report(tmp_path / "b.xml", [("", "tests.test_x", True), ("tests.test_y", "t", False)])
    assert load_summary().run_nowhere([a, b]) == ["tests.test_x"]


def test_a_test_skipped_everywhere_is_listed_and_one_run_once_is_not(tmp_path):
    a = write_report(tmp_path / "a.xml", [("tests.t", "test_p", True), ("tests.t", "test_q", True)])
    b = write_report(
        tmp_path / "b.xml", [("tests.t", "test_p", True), ("tests.t", "test_q", False)]
    )
    assert load_summary().run_nowhere([a, b]) == ["tests.t::test_p"]


def test_a_skipped_module_does_not_hide_behind_a_module_with_a_longer_name(tmp_path):
    a = write_report(tmp_path / "a.xml", [("", "tests.test_x", True)])
    b = write_report(tmp_path / "b.xml", [("tests.test_xy", "test_p", False)])
    assert load_summary().run_nowhere([a, b]) == ["tests.test_x"]
