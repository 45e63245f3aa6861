"""One simulated Beibu day through the real scheduler: api-server, scheduler and dag-processor with
the LocalExecutor (or `--executor CeleryExecutor`: two Celery workers on the local Redis), Airflow's
metadata and the warehouse on the local PostgreSQL, in databases created for the run and dropped
after it (the harness of tests/test_airflow_deployment.py, tests/airflow_cluster.py). Task processes
are forked from workers that preloaded pipelines/worker_preload.py (LocalExecutor: a forkserver;
Celery: pipelines.celery_config), as in production; `--no-preload` measures without.

    .venv/bin/python bench/scheduler_day.py --json

Triggers one manual run (no logical date: it processes yesterday in Asia/Shanghai) and prints one
JSON line: wall seconds from the trigger command to the run's success (and from the run's start to
its end, as the scheduler recorded them), the start-up time of the deployment, each task's duration
from its task instance's start and end, the slowest tasks, and the time each task spent before its
own code started (task-process start-up, read from the task logs). A measurement, not a test.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.airflow_cluster import DAG_ID, AirflowCluster  # noqa: E402


def _startup_seconds(cluster: AirflowCluster, run_id: str, task_id: str) -> float | None:
    """From the task process's first log line to the end of its 'Pre Execute' group (DAG parsed,
    context built): what a task costs before envmon's code runs."""
    files = sorted((cluster.log_folder / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={task_id}").glob("*.log"))
    stamps = []
    for line in files[-1].read_text(errors="replace").splitlines() if files else []:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        stamps.append((record.get("timestamp"), record.get("event")))
    if not stamps:
        return None
    first = datetime.fromisoformat(stamps[0][0])
    for stamp, event in stamps:
        if event == "::endgroup::":
            return round((datetime.fromisoformat(stamp) - first).total_seconds(), 2)
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--executor", default="LocalExecutor", choices=["LocalExecutor", "CeleryExecutor"])
    parser.add_argument("--no-preload", action="store_true",
                        help="without the worker preload (pipelines/worker_preload.py): each task imports what it uses")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for every component, e.g. AIRFLOW__CORE__PARALLELISM=4")
    parser.add_argument("--workdir", type=Path, help="keep AIRFLOW_HOME, the logs and ENVMON_HOMEs here (default: a temporary directory)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with (contextlib.nullcontext(str(args.workdir)) if args.workdir else
          tempfile.TemporaryDirectory(prefix="envmon-scheduler-day-")) as workdir, \
            AirflowCluster(Path(workdir), executor=args.executor, use_job_schedule=False, preload=not args.no_preload,
                           extra_env=dict(item.split("=", 1) for item in args.env)) as cluster:
        triggered = time.monotonic()
        created = cluster.trigger()
        run = cluster.wait_for_run(created["run_id"], timeout=600)
        wall = time.monotonic() - triggered
        tasks = cluster.task_instances(run["run_id"])
        durations = cluster.task_durations(run["run_id"])
        result = {
            "executor": args.executor,
            "worker_preload": not args.no_preload,
            "run_id": run["run_id"],
            "day": (cluster.xcom(run["run_id"], "assess") or {}).get("day"),
            "trigger_to_success_seconds": round(wall, 1),
            "run_start_to_end_seconds": round((run["end_date"] - run["start_date"]).total_seconds(), 1),
            "queued_to_first_task_seconds": round((min(t["start_date"] for t in tasks) - run["start_date"]).total_seconds(), 1),
            "deployment_startup_seconds": cluster.timings.get("startup_seconds"),
            "task_seconds": durations,
            "task_seconds_total": round(sum(durations.values()), 1),
            "slowest": sorted(durations, key=durations.get, reverse=True)[:4],
            "tasks_over_10_s": sorted(t for t, s in durations.items() if s > 10),
            "task_startup_seconds": {t["task_id"]: _startup_seconds(cluster, run["run_id"], t["task_id"]) for t in tasks},
        }
    result["deployment_stop_seconds"] = cluster.timings.get("stop_seconds")
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")


if __name__ == "__main__":
    main()
