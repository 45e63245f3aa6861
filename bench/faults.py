"""Faults, by the numbers (issue 11): every fault scenario of tests/faults.py, on each warehouse it
applies to (a temporary SQLite file; a fresh schema of the test PostgreSQL, or a throwaway server
started with the system's binaries, as the test suite does), with what was injected, whether envmon
survived it (no partial batch, and the warehouse equal to a clean run of the same payloads), and
the time to recover (the resume, the re-run or the catch-up that repaired it; for the unreachable
warehouse, the slowest command's time to its one-line error).

    .venv/bin/python bench/faults.py [--markdown] [--json] [--only NAME]

--markdown prints the README's table.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _warehouse(backend: str, folder: Path, stack):
    if backend == "sqlite":
        return f"sqlite:///{folder / 'warehouse.db'}"
    from tests.conftest import fresh_postgres_schema

    return stack.enter_context(fresh_postgres_schema())


def run_all(only: str | None = None) -> list[dict]:
    import contextlib

    from tests import faults

    rows = []
    for name, (scenario, backends) in faults.SCENARIOS.items():
        if only and only not in scenario.__name__:
            continue
        for backend in backends:
            started = time.monotonic()
            row = {"fault": name, "backend": backend, "scenario": scenario.__name__}
            with tempfile.TemporaryDirectory(prefix="envmon-fault-") as folder, contextlib.ExitStack() as stack:
                try:
                    url = _warehouse(backend, Path(folder), stack)
                    outcome = scenario(Path(folder) / "work", url)
                except faults.FaultNotInjectable as reason:
                    row.update(injected=f"not injectable here: {reason}", survived=None, recover_seconds=None)
                except AssertionError as failure:
                    row.update(injected="", survived=False, recover_seconds=None,
                               failure=(str(failure).splitlines() or [""])[0][:300])
                except BaseException as error:  # noqa: BLE001 - a skip or a crash of the scenario itself
                    if type(error).__name__ == "Skipped":  # pytest.skip outside pytest: no PostgreSQL here
                        row.update(injected=f"not run: {error}", survived=None, recover_seconds=None)
                    else:
                        row.update(injected="", survived=False, recover_seconds=None,
                                   failure="".join(traceback.format_exception_only(error)).strip()[:500])
                else:
                    row.update(injected=outcome.injected, survived=True,
                               recover_seconds=round(outcome.recover_seconds, 1), detail=outcome.detail)
            row["scenario_seconds"] = round(time.monotonic() - started, 1)
            row["load_average"] = round(os.getloadavg()[0], 1)
            rows.append(row)
            print(json.dumps(row, ensure_ascii=False), file=sys.stderr)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| fault | warehouse | injected | survived | time to recover |", "|---|---|---|---|---|"]
    for row in rows:
        survived = {True: "yes", False: "**no**", None: "not run"}[row["survived"]]
        recover = f"{row['recover_seconds']:.1f} s" if row["recover_seconds"] is not None else "–"
        injected = (row["injected"] or row.get("failure", "")).replace("|", "\\|")
        lines.append(f"| {row['fault']} | {row['backend']} | {injected} | {survived} | {recover} |")
    survived = sum(row["survived"] is True for row in rows)
    lines.append("")
    lines.append(f"{survived} of {len(rows)} faults survived; after each, no partial batch was visible and the "
                 "warehouse held what a clean run of the same payloads holds. Time to recover: the resume, re-run "
                 "or catch-up that repaired the warehouse (for two runs or ingests at once, until both had landed; "
                 "for the unreachable warehouse, the slowest command's time to its one-line error), "
                 f"measured {time.strftime('%Y-%m-%d', time.gmtime())} on {os.cpu_count()} cores, the load average "
                 f"after each scenario {min(r['load_average'] for r in rows):.1f}–{max(r['load_average'] for r in rows):.1f} "
                 "(other processes share the machine: the times are the run's own, not a floor).")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--markdown", action="store_true", help="print the README's table")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("--only", help="run the scenarios whose function name contains this")
    args = parser.parse_args()
    rows = run_all(args.only)
    if args.json:
        print(json.dumps({"faults": rows}, ensure_ascii=False))
    if args.markdown or not args.json:
        print(markdown(rows))
    return 0 if all(row["survived"] is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
