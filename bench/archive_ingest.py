"""A bureau's archive of real-format payloads through `envmon ingest`, as a new user loads it.

    .venv/bin/python bench/archive_ingest.py --json

Two archives, made from the real samples of ../shared/reference/formats/cnemc-air (see its README):
(a) the four weeks of the Beibu six cities' hourly air CSV (16,914 rows, 202,968 observations),
    copied --copies times (default 10: 2,029,680 observations), each copy moved back four weeks
    more, so every copy is new data (ten copies reach back to 2025-05);
(b) a day of national hourly air files: the real national hour (1,601 stations) as the 24 files of
    2026-03-15 (timepoint set to each hour; the values of the real hour), in one folder: 461,088
    observations read, those of the registry's 26 stations loaded, the rest out of scope;
(c) with `--archives onefile`: the issue's case, about four months of the six cities in one CSV
    (the four weeks four times, 811,872 observations).
Each goes through `envmon ingest --source cnemc-air --dir FOLDER --json` in a process of its own, on
the local PostgreSQL (ENVMON_BENCH_POSTGRES_URL, default the test server; a fresh schema, dropped
afterwards) and on the embedded default (SQLite in a temporary ENVMON_HOME), once, then once more
unchanged. Prints one JSON line per archive and warehouse: observations read and loaded, wall
seconds, observations/s end to end (archive, parse, validate, QC, published comparison, load,
assessments and rollups of the touched days, the alert step of the late days), each stage's seconds
and share of the wall time (`other`: the process's start, imports, the migration check), peak RSS of
the ingest process, the unchanged re-run's seconds and its share of the first run, and the load
average before and after. A measurement, not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORMATS = ROOT.parent / "shared" / "reference" / "formats" / "cnemc-air"
BEIBU = FORMATS / "beibu6-hourly-2026-03-01-to-03-28.csv"
NATIONAL = FORMATS / "national-hourly-2026-03-15T12.csv"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
FETCHED = "2026-03-29T00:00:00+08:00"   # after every copy's readings, and the national day's
NATIONAL_DAY = datetime(2026, 3, 15)


def beibu_copies(folder: Path, copies: int) -> int:
    """The Beibu sample, `copies` times, copy k moved back 28·k days; returns the observations."""
    lines = BEIBU.read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], lines[1:]
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(copies):
        shift = timedelta(days=28 * k)
        out = [header]
        for row in rows:
            stamp, rest = row.split(",", 1)
            moved = datetime.strptime(stamp, "%Y-%m-%dT%H%M") - shift
            out.append(f"{moved:%Y-%m-%dT%H%M},{rest}")
        first, last = datetime(2026, 3, 1) - shift, datetime(2026, 3, 28) - shift
        (folder / f"beibu6-hourly-{first:%Y-%m-%d}-to-{last:%Y-%m-%d}.csv").write_text("\n".join(out) + "\n",
                                                                                    encoding="utf-8")
    return copies * len(rows) * 12


def beibu_one_file(folder: Path, copies: int = 4) -> int:
    """The issue's case: about four months of the six cities in ONE CSV (the four weeks, `copies`
    times, moved back four weeks each, oldest first); returns the observations."""
    lines = BEIBU.read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], lines[1:]
    folder.mkdir(parents=True, exist_ok=True)
    out = [header]
    for k in reversed(range(copies)):
        shift = timedelta(days=28 * k)
        for row in rows:
            stamp, rest = row.split(",", 1)
            out.append(f"{datetime.strptime(stamp, '%Y-%m-%dT%H%M') - shift:%Y-%m-%dT%H%M},{rest}")
    first = datetime(2026, 3, 1) - timedelta(days=28 * (copies - 1))
    (folder / f"beibu6-hourly-{first:%Y-%m-%d}-to-2026-03-28.csv").write_text("\n".join(out) + "\n", encoding="utf-8")
    return copies * len(rows) * 12


def national_day(folder: Path) -> int:
    """The real national hour as the 24 hourly files of NATIONAL_DAY; returns the observations."""
    lines = NATIONAL.read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], lines[1:]
    folder.mkdir(parents=True, exist_ok=True)
    for hour in range(1, 25):
        stamp = NATIONAL_DAY + timedelta(hours=hour)
        out = [header] + [f"{stamp:%Y-%m-%dT%H%M},{row.split(',', 1)[1]}" for row in rows]
        (folder / f"national-hourly-{stamp:%Y-%m-%dT%H}.csv").write_text("\n".join(out) + "\n", encoding="utf-8")
    return 24 * len(rows) * 12


def ingest(folder: Path, env: dict, batch_size: int | None) -> dict:
    """`envmon ingest --dir` in a process of its own: its summary, wall seconds and peak RSS."""
    command = [sys.executable, "-m", "pipelines.cli", "ingest", "--source", "cnemc-air", "--dir", str(folder),
               "--fetched-at", FETCHED, "--json"]
    if batch_size:
        command += ["--batch-size", str(batch_size)]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = process.communicate()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"envmon ingest failed ({process.returncode}): {err.strip()[-2000:]}")
    summary = json.loads(out)
    summary["_wall"] = wall
    summary["_peak_rss_mb"] = _children_peak_mb()
    return summary


def _children_peak_mb() -> float:
    """The largest peak RSS of the finished child processes so far (ru_maxrss of RUSAGE_CHILDREN)."""
    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)


def measure(name: str, kind: str, folder: Path, observations: int, url: str | None, batch_size: int | None) -> dict:
    home = Path(tempfile.mkdtemp(prefix=f"envmon-bench-archive-{kind}-", dir=folder.parent))  # removed with the archive
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENVMON_")}
    env["ENVMON_HOME"] = str(home)
    if url:
        env["ENVMON_WAREHOUSE_URL"] = url
    load_before = os.getloadavg()
    # each measurement in a process of its own: the peak RSS of RUSAGE_CHILDREN is the largest so
    # far, so the first run's peak is read in a fresh interpreter that runs only it
    first = _in_child(folder, env, batch_size)
    again = _in_child(folder, env, batch_size)
    bare = bare_load(folder, url) if url and any(folder.glob("*.csv")) else None   # the same run, the same schema
    seconds = first["seconds"]
    wall = first["_wall"]
    stages = {**seconds, "other": max(0.0, wall - sum(seconds.values()))}
    totals = first["sources"]["cnemc-air"]
    return {
        "archive": name, "warehouse": kind, "payloads": first["payloads"], "observations": totals["read"],
        "expected_observations": observations, "loaded": totals["loaded"], "quarantined": totals["quarantined"],
        "out_of_scope": totals["out_of_scope"], "days_assessed": len(first["days"]),
        "wall_seconds": round(wall, 1), "observations_per_second": round(totals["read"] / wall),
        "loaded_per_second": round(totals["loaded"] / wall),
        "stage_seconds": {k: round(v, 2) for k, v in stages.items()},
        "stage_shares": {k: round(v / wall, 3) for k, v in stages.items()},
        "peak_rss_mb": first["_peak_rss_mb"],
        "rerun_seconds": round(again["_wall"], 1), "rerun_share_of_first_run": round(again["_wall"] / wall, 3),
        "rerun_unchanged_payloads": len(again["unchanged"]),
        "rerun_in_process_seconds": again.get("wall_seconds"),  # less the interpreter's start and imports
        "batch_size": batch_size or 250_000,
        "bare_load_rows": bare and bare["rows"], "bare_load_seconds": bare and round(bare["seconds"], 1),
        "times_bare_load": bare and round(wall / bare["seconds"], 2),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count(),
    }


BARE_VALUE_COLUMNS = ["pm10", "pm10_24h", "pm2_5", "pm2_5_24h", "o3", "o3_24h", "no2", "no2_24h", "so2", "so2_24h",
                      "co", "co_24h"]   # twelve values a row, as many as envmon reads from it


def bare_load(folder: Path, url: str) -> dict:
    """The floor issue 27 measures envmon against: the same CSV files read with pandas.read_csv,
    melted to one row per value, and appended with DataFrame.to_sql (its defaults) to a table of
    the same PostgreSQL schema; no checks, no QC, no assessment. In a process of its own."""
    code = ("import json, sys, time; import pandas as pd; from pathlib import Path; from sqlalchemy import create_engine; "
            "engine = create_engine(sys.argv[1]); start = time.perf_counter(); rows = 0\n"
            "for path in sorted(Path(%r).glob('*.csv')):\n"
            "    frame = pd.read_csv(path)\n"
            "    long = frame.melt(id_vars=['timepoint', 'stationcode'], value_vars=%r, var_name='parameter')\n"
            "    long.to_sql('bare_load', engine, if_exists='append', index=False); rows += len(long)\n"
            "print(json.dumps({'rows': rows, 'seconds': time.perf_counter() - start}))" % (str(folder), BARE_VALUE_COLUMNS))
    result = subprocess.run([sys.executable, "-c", code, url], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(result.stderr.strip()[-3000:])
    return json.loads(result.stdout)


def _in_child(folder: Path, env: dict, batch_size: int | None) -> dict:
    """One `envmon ingest` measured by a helper process of this script, so that its peak RSS is its own."""
    code = ("import json, sys; sys.path.insert(0, %r); from bench.archive_ingest import ingest; from pathlib import Path; "
            "print(json.dumps(ingest(Path(%r), json.loads(sys.argv[1]), %r)))" % (str(ROOT), str(folder), batch_size))
    result = subprocess.run([sys.executable, "-c", code, json.dumps(env)], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(result.stderr.strip()[-3000:])
    return json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=10, help="copies of the Beibu four weeks (10: 2.03 million)")
    parser.add_argument("--url", default=os.environ.get("ENVMON_BENCH_POSTGRES_URL", DEFAULT_URL),
                        help="a PostgreSQL server; the benchmark works in a fresh schema of it")
    parser.add_argument("--only", choices=("postgresql", "sqlite"), help="one warehouse only")
    parser.add_argument("--archives", default="beibu,national",
                        help="beibu, national, onefile (the issue's case: ~4 months in one CSV), comma-separated")
    parser.add_argument("--batch-size", type=int, help="envmon ingest --batch-size (default its own)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not BEIBU.exists() or not NATIONAL.exists():
        sys.exit(f"the real samples are not in {FORMATS} (../shared beside this clone)")
    from sqlalchemy import create_engine, text

    work = Path(tempfile.mkdtemp(prefix="envmon-bench-archive-"))
    archives = {}
    wanted = args.archives.split(",")
    if "beibu" in wanted:
        archives[f"beibu-{args.copies}x4weeks"] = (work / "beibu", beibu_copies(work / "beibu", args.copies))
    if "national" in wanted:
        archives["national-day-24-files"] = (work / "national", national_day(work / "national"))
    if "onefile" in wanted:
        archives["beibu-4months-one-file"] = (work / "onefile", beibu_one_file(work / "onefile"))
    results = []
    for kind in ("postgresql", "sqlite"):
        if args.only and kind != args.only:
            continue
        for name, (folder, observations) in archives.items():
            schema = None
            url = None
            if kind == "postgresql":
                schema = f"envmon_bench_archive_{uuid.uuid4().hex[:8]}"
                admin = create_engine(args.url)
                with admin.begin() as connection:
                    connection.execute(text(f'CREATE SCHEMA "{schema}"'))
                url = f"{args.url}{'&' if '?' in args.url else '?'}options=-csearch_path%3D{schema}"
            try:
                result = measure(name, kind, folder, observations, url, args.batch_size)
            finally:
                if schema:
                    with admin.begin() as connection:
                        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                    admin.dispose()
            results.append(result)
            print(json.dumps(result) if args.json else json.dumps(result, indent=2), flush=True)
    import shutil

    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
