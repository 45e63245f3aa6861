"""The README's table "Security, by the numbers" (issue 24), from the tests' outcomes.

Each row of bench/security_attacks.csv is an attack, how it was tried and the tests that try it
(pytest node ids). This runs those tests (one pytest run, its JUnit XML read back), or reads the
JUnit XML of a run already made (--junit, e.g. CI's whole suite with --junitxml), and prints the
table: a row reads as its outcome ("refused ...") only when every one of its tests passed; a failed,
erroring, skipped or missing test is printed as such, never as refused.

    .venv/bin/python bench/security_table.py               # runs the tests (about 6 minutes here)
    .venv/bin/python bench/security_table.py --junit FILE  # the outcomes of a run already made

Exits 1 when any attack was not refused (or not tried).
"""
from __future__ import annotations

import argparse
import csv
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROWS = Path(__file__).with_name("security_attacks.csv")


@dataclass
class Outcome:
    state: str  # passed | failed | error | skipped
    seconds: float


def read_rows(path: Path = ROWS) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["tests"] = row["tests"].split()
    return rows


def node_of(testcase: ElementTree.Element) -> str:
    """A JUnit testcase as the node id a row names: tests/test_x.py::test_name (parameters dropped)."""
    module = testcase.get("classname", "")
    name = re.sub(r"\[.*\]$", "", testcase.get("name", ""))
    return f"{module.replace('.', '/')}.py::{name}"


def read_junit(path: Path) -> dict[str, list[Outcome]]:
    outcomes: dict[str, list[Outcome]] = {}
    for testcase in ElementTree.parse(path).getroot().iter("testcase"):
        kinds = {child.tag for child in testcase}
        state = ("failed" if "failure" in kinds else "error" if "error" in kinds
                 else "skipped" if "skipped" in kinds else "passed")
        outcomes.setdefault(node_of(testcase), []).append(Outcome(state, float(testcase.get("time") or 0)))
    return outcomes


def outcomes_for(test: str, outcomes: dict[str, list[Outcome]]) -> list[Outcome]:
    """A node id's outcomes (every parameter's); a bare file names all of its tests."""
    if "::" in test:
        return outcomes.get(test, [])
    return [o for node, found in outcomes.items() if node.split("::")[0] == test for o in found]


def run_tests(tests: list[str]) -> tuple[Path, float]:
    report = Path(tempfile.mkdtemp(prefix="envmon-security-")) / "junit.xml"
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *tests],
                   cwd=ROOT, check=False)
    if not report.exists():
        raise SystemExit("pytest wrote no results: see its output above")
    return report, time.monotonic() - started


def result_of(row: dict, outcomes: dict[str, list[Outcome]]) -> tuple[bool, str]:
    """(refused, the Result cell)."""
    found = {test: outcomes_for(test, outcomes) for test in row["tests"]}
    missing = [t for t, o in found.items() if not o]
    bad = {t: sorted({o.state for o in found_outcomes if o.state != "passed"}) for t, found_outcomes in found.items()}
    bad = {t: states for t, states in bad.items() if states}
    runs = [o for found_outcomes in found.values() for o in found_outcomes]
    if missing or bad:
        why = [f"`{t.split('::')[-1]}` not run" for t in missing]
        why += [f"`{t.split('::')[-1]}` {'/'.join(states)}" for t, states in bad.items()]
        return False, "**NOT shown refused**: " + "; ".join(why)
    passed = len(runs)
    return True, f"{row['outcome']} ({passed} test run{'s' if passed != 1 else ''} passed, {sum(o.seconds for o in runs):.0f} s)"


def table(rows: list[dict], outcomes: dict[str, list[Outcome]]) -> tuple[list[str], int]:
    lines = ["| Attack | How it was tried (the tests) | Result |", "|---|---|---|"]
    refused = 0
    for row in rows:
        ok, result = result_of(row, outcomes)
        refused += ok
        tests = ", ".join(f"`{t.split('/')[-1]}`" for t in row["tests"])
        lines.append(f"| {row['attack']} | {row['how_tried']} ({tests}) | {result} |")
    return lines, refused


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--junit", type=Path, help="read these JUnit XML results instead of running the tests")
    parser.add_argument("--rows", type=Path, default=ROWS)
    args = parser.parse_args(argv)
    rows = read_rows(args.rows)
    if args.junit:
        report, seconds = args.junit, None
    else:
        report, seconds = run_tests(sorted({t for row in rows for t in row["tests"]}))
    lines, refused = table(rows, read_junit(report))
    print("\n".join(lines))
    print(f"\n{refused} of {len(rows)} attacks shown refused by their tests"
          + (f" (the tests ran in {seconds:.0f} s)." if seconds is not None else f" (results: {report.name})."))
    return 0 if refused == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
