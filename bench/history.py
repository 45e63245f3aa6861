"""Years of simulated Beibu history backfilled the way a bureau adopting envmon loads its archive:
every registry section, coastal point and air station simulated, validated, QC'd, loaded, rolled up
and assessed by pipelines/ingest/history.py, chunk by chunk.

    .venv/bin/python bench/history.py --from 2018-01-01 --to 2025-12-31 --json

On a fresh schema of the PostgreSQL at --url (default ENVMON_BENCH_POSTGRES_URL, else the local test
server), dropped afterwards unless --keep. Prints one JSON line: observations, observations_per_second,
total_seconds (wall), each stage's CPU seconds and share of their sum (simulate and validate run in
worker processes, summed over them; the database server's own CPU is not in them), each stage's wall
seconds (inflated when processes share the cores), the time the main process waited for the workers,
peak RSS of the main process and of the largest worker, the peak PSS of all of them together (shared
pages counted once; sampled each second), and the machine's load average before and after (other
users' work makes the timings noisy).
A measurement, not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import threading
import time
import uuid
from datetime import date

from sqlalchemy import create_engine, text

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _descendants(root: int) -> list[int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parents[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def _pss_mb(pids) -> float:
    """Proportional set size of the processes: shared pages counted once, split between them."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as handle:
                total += next(int(line.split()[1]) for line in handle if line.startswith("Pss:"))
        except (OSError, StopIteration):
            continue
    return total / 1024


class MemorySampler(threading.Thread):
    """The peak PSS of this process and its descendants (the worker processes), sampled each second."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak_mb, self._done = 0.0, threading.Event()

    def run(self) -> None:
        while not self._done.wait(1.0):
            self.peak_mb = max(self.peak_mb, _pss_mb(_descendants(os.getpid())))

    def stop(self) -> float:
        self._done.set()
        self.join()
        return self.peak_mb


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--from", dest="first", type=date.fromisoformat, default=date(2018, 1, 1))
    parser.add_argument("--to", dest="last", type=date.fromisoformat, default=date(2025, 12, 31))
    parser.add_argument("--url", default=os.environ.get("ENVMON_BENCH_POSTGRES_URL", DEFAULT_URL),
                        help="a PostgreSQL server; the benchmark works in a fresh schema of it")
    parser.add_argument("--workers", type=int, default=2, help="processes simulating and validating ahead")
    parser.add_argument("--chunk-days", type=int, default=31)
    parser.add_argument("--keep", action="store_true", help="keep the schema (its name is printed)")
    parser.add_argument("--profile", help="write a cProfile of the main process to this file")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("ENVMON_HOME", tempfile.mkdtemp(prefix="envmon-bench-history-"))

    from pipelines.ingest import history
    from pipelines.config import load_settings

    schema_name = f"envmon_bench_history_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema_name}"'))
    url = f"{args.url}{'&' if '?' in args.url else '?'}options=-csearch_path%3D{schema_name}"
    settings = load_settings({**os.environ, "ENVMON_WAREHOUSE_URL": url})
    load_before = os.getloadavg()

    def progress(state) -> None:
        if not args.json:
            print(f"{state.days} days, {state.observations} observations", file=sys.stderr)

    try:
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        sampler = MemorySampler()
        sampler.start()
        started = time.perf_counter()
        summary = history.backfill(args.first, args.last, settings, workers=args.workers,
                                   chunk_days=args.chunk_days, on_chunk=progress)
        total = time.perf_counter() - started
        peak_pss = sampler.stop()
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
    finally:
        if not args.keep:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema_name}" CASCADE'))
        admin.dispose()
    cpu_total = sum(summary["cpu_seconds"].values())
    result = {
        "from": summary["from"], "to": summary["to"], "days": summary["days"],
        "observations": summary["observations"], "quarantined": summary["quarantined"],
        "observations_per_second": round(summary["observations"] / total),
        "total_seconds": round(total, 1),
        "stage_cpu_seconds": summary["cpu_seconds"],
        "stage_shares": {stage: round(seconds / cpu_total, 3) for stage, seconds in summary["cpu_seconds"].items()},
        "stage_wall_seconds": summary["seconds"],
        "main_waited_for_workers_seconds": summary["waiting_for_workers_seconds"],
        "workers": args.workers, "chunk_days": args.chunk_days,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_rss_largest_worker_mb": summary["worker_peak_rss_mb"],
        "peak_pss_all_processes_mb": round(peak_pss, 1),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "schema": schema_name if args.keep else None,
    }
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
