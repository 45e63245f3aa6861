"""The mutation check: deliberate breakages of envmon's core rules, each applied alone to a
throw-away copy of the tree, with the tests that should notice it run against that copy. Every
mutation must be caught (its tests fail); one that survives means a rule no test really checks.

    .venv/bin/python bench/mutations.py            # all of them; exit 1 unless every one is caught
    .venv/bin/python bench/mutations.py --list     # what they are
    .venv/bin/python bench/mutations.py --only qc-filter --only iaqi-rounding --json

The tests first run on the unbroken copy: a mutation counts as caught only if the same tests
passed without it. A mutation whose code is no longer where it says (the rule moved) is reported
as `not applied` and fails the check, so the list is kept in step with the code. The copy is the
working tree's tracked and untracked (not ignored) files; `python` is this interpreter, with the
copy first on PYTHONPATH (the `envmon` command the end-to-end tests start imports it too).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    what: str
    # (file, exact text, replacement): the first candidate whose text the tree holds exactly once
    # is applied (several where the code is in the middle of a move)
    candidates: tuple[tuple[str, str, str], ...]
    tests: tuple[str, ...]  # test files (globs) or node ids


MUTATIONS = (
    Mutation(
        "qc-filter", "the nightly assessment no longer keeps only ENVMON_ASSESSABLE_FLAGS observations",
        (("pipelines/nightly.py",
          '    observations = observations[observations["qc_flag"].isin(settings.assessable_flags)]\n', ""),),
        ("tests/test_nightly.py",)),
    Mutation(
        "gb3838-class-boundary", "a value on a GB 3838 class limit takes the worse class (< for ≤)",
        (("pipelines/reference/standards.py", "        return value <= limit\n", "        return value < limit\n"),),
        ("tests/test_standards.py", "tests/test_surface_water.py")),
    Mutation(
        "iaqi-rounding", "the individual AQI is rounded to nearest instead of up (HJ 633 practice: ceil)",
        (("pipelines/reference/standards.py", "math.ceil(round(exact, 9))", "round(exact)"),),
        ("tests/test_standards.py", "tests/test_air_quality.py")),
    Mutation(
        "cross-boundary-verdict", "a section whose class equals its target no longer complies (< for ≤)",
        (("pipelines/assessment/surface_water.py",
          "standards.surface_class_rank(self.water_class) <= standards.surface_class_rank(self.target_class)",
          "standards.surface_class_rank(self.water_class) < standards.surface_class_rank(self.target_class)"),),
        ("tests/test_surface_water.py", "tests/test_assessment.py", "tests/test_trends_and_schemes.py",
         "tests/test_nightly.py")),
    Mutation(
        "dashboard-verdict", "the dashboard shows every assessed cross-boundary section as 达标 compliant",
        (("dashboards/report.py", '"达标 compliant" if last["is_compliant"] else "未达标 FAILED"', '"达标 compliant"'),),
        ("tests/test_dashboard.py",)),
    Mutation(
        "alert-dedup", "an alert already raised for a section and period is raised (and sent) again",
        (("warehouse/alert_store.py", '    if notice_keys(connection, [row["notice_key"]]):\n        return None\n', ""),),
        ("tests/test_alert*.py",)),
    Mutation(
        "qc-filter-archive", "the archive path assesses the touched days from every stored observation, not only "
                             "the ENVMON_ASSESSABLE_FLAGS ones",
        (("pipelines/bulk_ingest.py",
          '            usable = observations[observations["qc_flag"].isin(settings.assessable_flags)]\n',
          "            usable = observations\n"),),
        ("tests/test_archive_ingest.py",)),
    Mutation(
        "read-count-archive", "the archive path counts rows read after validation (loaded + quarantined)",
        (("pipelines/bulk_ingest.py", '{"rows_read": parsed.read,', '{"rows_read": len(good) + held,'),),
        ("tests/test_archive_ingest.py",)),
    Mutation(
        "read-count", "rows read are counted after validation (loaded + quarantined) instead of as ingested",
        (("pipelines/nightly.py", '"rows_read": len(ingested),', '"rows_read": len(good) + len(quarantined),'),),
        ("tests/test_nightly.py",)),
    Mutation(
        "qc-clock", "QC's time-in-the-future test asks the wall clock instead of pipelines.clock",
        (("pipelines/quality/qc.py", "    now = now or clock.now()\n",
          "    now = now or datetime.now().astimezone()\n"),),
        ("tests/test_qc.py",)),
)


def copy_tree(destination: Path) -> None:
    """The working tree's tracked and untracked, not ignored, files (a plain copy less the usual
    clutter where this is not a git checkout)."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True)
    if listed.returncode == 0:
        for name in filter(None, listed.stdout.decode().split("\0")):
            source = ROOT / name
            if source.is_file():
                target = destination / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
    else:
        shutil.copytree(ROOT, destination, dirs_exist_ok=True, symlinks=True,
                        ignore=shutil.ignore_patterns(".git", ".venv", ".envmon", "__pycache__", "*.egg-info"))


def test_paths(tree: Path, tests: tuple[str, ...]) -> list[str]:
    paths = []
    for pattern in tests:
        found = sorted(glob.glob(str(tree / pattern.split("::")[0])))
        paths += [str(Path(p).relative_to(tree)) + (pattern[len(pattern.split("::")[0]):]) for p in found] or [pattern]
    return paths


def run_tests(tree: Path, tests: list[str]) -> tuple[int, float, str]:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
                   "PYTHONDONTWRITEBYTECODE": "1"}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
                            cwd=tree, env=environment, capture_output=True, text=True)
    summary = (result.stdout.strip().splitlines() or [""])[-1]
    return result.returncode, time.monotonic() - started, summary


def apply(tree: Path, mutation: Mutation) -> tuple[Path, str] | None:
    """The mutation applied to the copy: (file, its original text), or None if no candidate applies."""
    for relative, text, replacement in mutation.candidates:
        path = tree / relative
        if not path.exists():
            continue
        original = path.read_text(encoding="utf-8")
        if original.count(text) == 1:
            path.write_text(original.replace(text, replacement), encoding="utf-8")
            return path, original
    return None


def check(mutations: list[Mutation], keep: bool = False) -> list[dict]:
    tree = Path(tempfile.mkdtemp(prefix="envmon-mutations-"))
    results = []
    try:
        copy_tree(tree)
        baseline_tests = sorted({t for m in mutations for t in test_paths(tree, m.tests)})
        code, seconds, summary = run_tests(tree, baseline_tests)
        if code != 0:
            raise SystemExit(f"the tests fail without any mutation ({summary}); fix them first:\n  "
                             + " ".join(baseline_tests))
        print(f"baseline: {summary} ({seconds:.0f} s)", file=sys.stderr)
        for mutation in mutations:
            applied = apply(tree, mutation)
            if applied is None:
                results.append({"mutation": mutation.name, "what": mutation.what, "outcome": "not applied",
                                "detail": "its code is not where the mutation says: update bench/mutations.py"})
                continue
            path, original = applied
            try:
                code, seconds, summary = run_tests(tree, test_paths(tree, mutation.tests))
            finally:
                path.write_text(original, encoding="utf-8")
            outcome = {1: "caught", 0: "SURVIVED"}.get(code, f"error (pytest exit {code})")
            results.append({"mutation": mutation.name, "what": mutation.what, "outcome": outcome,
                            "file": str(path.relative_to(tree)), "tests": list(mutation.tests),
                            "seconds": round(seconds, 1), "detail": summary})
            print(f"{mutation.name}: {outcome} ({seconds:.0f} s)", file=sys.stderr)
    finally:
        if keep:
            print(f"copy kept at {tree}", file=sys.stderr)
        else:
            shutil.rmtree(tree, ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--only", action="append", metavar="NAME", help="run this mutation (repeatable)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--keep", action="store_true", help="keep the throw-away copy")
    args = parser.parse_args(argv)
    if args.list:
        for mutation in MUTATIONS:
            print(f"{mutation.name:24} {mutation.what}\n{'':24} tests: {' '.join(mutation.tests)}")
        return 0
    unknown = set(args.only or ()) - {m.name for m in MUTATIONS}
    if unknown:
        parser.error(f"no mutation named {', '.join(sorted(unknown))}")
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only]
    results = check(chosen, keep=args.keep)
    caught = sum(r["outcome"] == "caught" for r in results)
    if args.json:
        print(json.dumps({"mutations": results, "caught": caught, "tried": len(results)}, ensure_ascii=False))
    else:
        for r in results:
            print(f"{r['outcome']:12} {r['mutation']:24} {r['what']}  [{r['detail']}]")
        print(f"{caught} of {len(results)} mutations caught")
    return 0 if caught == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
