"""Times the nightly steps (ingest, validate, load, assess, alert, dashboard) for simulated days,
without Airflow, on the warehouse at ENVMON_WAREHOUSE_URL (default: a fresh SQLite file).

    python bench/nightly_steps.py --days 7 --json

Prints one JSON line: seconds per step summed over the days, the re-run of the same days,
observations loaded, and peak resident memory. A measurement, not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from collections import defaultdict
from datetime import date, timedelta


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--last-day", type=date.fromisoformat, default=date(2026, 11, 25))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("ENVMON_HOME", tempfile.mkdtemp(prefix="envmon-bench-"))

    from pipelines import nightly
    from pipelines.config import load_settings

    settings = load_settings()
    nightly.prepare_warehouse(settings)
    days = [args.last_day - timedelta(days=i) for i in range(args.days - 1, -1, -1)]

    def one_pass() -> tuple[dict, int]:
        seconds: dict[str, float] = defaultdict(float)
        loaded = 0
        for day in days:
            for source in nightly.sources_for(settings):
                for step in (nightly.ingest, nightly.validate, nightly.load):
                    started = time.perf_counter()
                    result = step(source, day, settings)
                    seconds[step.__name__] += time.perf_counter() - started
                    loaded += result.get("loaded", 0)
            for step in (nightly.assess, nightly.alert):
                started = time.perf_counter()
                step(day, settings)
                seconds[step.__name__] += time.perf_counter() - started
        started = time.perf_counter()
        nightly.refresh_dashboard(settings)
        seconds["refresh_dashboard"] += time.perf_counter() - started
        return {k: round(v, 3) for k, v in seconds.items()}, loaded

    first, loaded = one_pass()
    rerun, _ = one_pass()
    result = {"days": args.days, "observations": loaded, "first_run_seconds": first,
              "first_run_total": round(sum(first.values()), 3), "rerun_total": round(sum(rerun.values()), 3),
              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
              "warehouse": settings.warehouse_url.split("@")[-1]}
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
