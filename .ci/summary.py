"""Print CI's test counts per corner from the JUnit reports, then one closing total line."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

COLUMNS = ("tests", "passed", "failed", "errors", "skipped", "seconds")


def counts(report: Path) -> dict[str, float]:
    """Sum pytest's JUnit testsuite attributes of one report."""
    root = ET.parse(report).getroot()  # noqa: S314 - our own pytest's output
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = dict.fromkeys(("tests", "failures", "errors", "skipped", "time"), 0.0)
    for suite in suites:
        for key in total:
            total[key] += float(suite.get(key, 0))
    failed, errors, skipped = total["failures"], total["errors"], total["skipped"]
    return {
        "tests": total["tests"],
        "passed": total["tests"] - failed - errors - skipped,
        "failed": failed,
        "errors": errors,
        "skipped": skipped,
        "seconds": total["time"],
    }


def run_nowhere(reports: list[Path]) -> list[str]:
    """Tests skipped in every corner that collected them: no corner proves them.

    pytest reports a module skipped at import (``importorskip`` on an older Python) as
    one case with an empty classname and the module as its name; such a module counts
    as run when any corner ran one of its tests.
    """
    ran: set[str] = set()
    skipped: set[str] = set()
    for report in reports:
        for case in ET.parse(report).getroot().iter("testcase"):  # noqa: S314 - ours
            classname, name = case.get("classname") or "", case.get("name") or ""
            test = f"{classname}::{name}" if classname else name
            (skipped if case.find("skipped") is not None else ran).add(test)
    ran_modules = {test.split("::")[0] for test in ran}
    return sorted(
        test
        for test in skipped - ran
        if "::" in test or not any(_within(m, test) for m in ran_modules)
    )


def _within(classname: str, module: str) -> bool:
    return classname == module or classname.startswith(module + ".")


def main(folder: str) -> int:
    """Print the table; exit 1 when a report is missing, failed, or ran no test."""
    reports = sorted(Path(folder).glob("*.xml"))
    print(f"{'corner':<32}" + "".join(f"{c:>9}" for c in COLUMNS))
    grand = dict.fromkeys(COLUMNS, 0.0)
    for report in reports:
        row = counts(report)
        print(f"{report.stem:<32}" + "".join(f"{row[c]:>9.0f}" for c in COLUMNS))
        grand = {c: grand[c] + row[c] for c in COLUMNS}
    bad = not reports or grand["failed"] or grand["errors"] or not grand["passed"]
    nowhere = run_nowhere(reports)
    print(f"skipped in every corner that has them (run nowhere): {len(nowhere)}")
    for test in nowhere:
        print(f"  {test}")
    failed = grand["failed"] + grand["errors"]
    print(
        f"total: {grand['passed']:.0f} passed, {failed:.0f} failed, {grand['skipped']:.0f} skipped"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
