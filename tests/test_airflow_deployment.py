"""The nightly DAG under a real Airflow 3 deployment, as docker-compose.yml runs it: api-server,
scheduler, dag-processor and Celery workers on Redis (then the LocalExecutor), Airflow's metadata
on the local PostgreSQL, envmon's warehouse in a PostgreSQL database of its own, simulated data.

What the scheduler decides is checked against what the warehouse holds afterwards: each run must
have processed the bureau (Asia/Shanghai) day before its logical date, or before its trigger time
when it has none:
- the scheduled run the scheduler creates by itself when the DAG appears unpaused
  (CronTriggerTimetable "0 2 * * *" in Asia/Shanghai, catchup=False: the latest 02:00 that has
  passed, logical date 18:00 UTC of the day before it);
- a manual run triggered with `airflow dags trigger` (no logical date: run_after decides);
- a two-day backfill submitted by `envmon backfill --deployment` (`airflow backfill create ...
  --max-active-runs 1`; its runs must not overlap);
and the tasks of a run are spread over two Celery workers that share no ENVMON_HOME. The api-server
runs FAB's auth manager, as docker-compose.yml does: the REST API refuses the DAG list without a
token, with a wrong password or a forged token, and answers it with the admin's token (issue 24).

Harness: tests/airflow_cluster.py; the workers preload pipelines/worker_preload.py as production
does. On 2 cores the Celery test takes 1.5-2.5 minutes (25-40 s of it start-up, 11-20 s a run) and
the LocalExecutor one 1-1.5 minutes; a failing task fails the test at once (its retries are 5
minutes apart), with the components' and the failed task's logs."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tests.airflow_cluster import (BIN, DAG_ID, AirflowCluster, DeploymentError, bureau_day_before, last_json_line,
                                   latest_nightly_tick)

pytestmark = [pytest.mark.airflow_deployment, pytest.mark.postgres]

SHANGHAI = ZoneInfo("Asia/Shanghai")
SOURCES = {"simulated-water", "simulated-air", "simulated-coastal"}
RUN_TIMEOUT = 240  # one simulated day takes 40-60 s here


def expect(cluster: AirflowCluster, condition, message: str, run_id: str | None = None) -> None:
    """An assertion whose message carries the components' and the run's logs."""
    if not condition:
        raise DeploymentError(f"{message}\n\n{cluster.diagnostics(run_id)}")


def assert_processed(cluster: AirflowCluster, runs: list[dict], days: list[date]) -> None:
    """The warehouse holds exactly `days` (each source's partition, observations, the day's
    assessments), and each run's `assess` returned its own day."""
    run_id = runs[-1]["run_id"]
    logged = {(r["source"], r["partition_day"]) for r in cluster.query(
        "warehouse", "SELECT source, partition_day FROM partition_log")}
    expect(cluster, logged == {(s, d) for s in SOURCES for d in days},
           f"partition_log holds {sorted(logged)}, expected {sorted(SOURCES)} x {days}", run_id)
    observed = {r["partition_day"]: r["n"] for r in cluster.query(
        "warehouse", "SELECT partition_day, count(*) AS n FROM observations GROUP BY partition_day")}
    expect(cluster, set(observed) == set(days) and all(observed.values()),
           f"observations by day: {observed}, expected rows for {days}", run_id)
    assessed = {r["period_start"] for r in cluster.query(
        "warehouse", "SELECT DISTINCT period_start FROM assessments WHERE period = 'day'")}
    expect(cluster, assessed == set(days), f"daily assessments for {sorted(assessed)}, expected {days}", run_id)
    for run, day in zip(runs, days):
        returned = cluster.xcom(run["run_id"], "assess")
        expect(cluster, returned and returned.get("day") == day.isoformat(),
               f"assess of {run['run_id']} returned {returned}, expected day {day}", run["run_id"])


def assert_on_both_workers(cluster: AirflowCluster, run: dict) -> None:
    tasks = cluster.task_instances(run["run_id"])
    hosts = {t["hostname"] for t in tasks}
    expect(cluster, all(t["state"] == "success" for t in tasks),
           f"tasks of {run['run_id']}: {[(t['task_id'], t['state']) for t in tasks]}", run["run_id"])
    expect(cluster, hosts == {"worker1", "worker2"},
           f"the tasks of {run['run_id']} ran on {hosts}, expected both workers: "
           f"{[(t['task_id'], t['hostname']) for t in tasks]}", run["run_id"])
    # the workers share no disk: each wrote its own Data Docs, the batches went through the warehouse
    homes = {w.name: {p.name for p in (w.envmon_home / "data_docs").glob("*/*")} for w in cluster.worker_specs}
    validated_on = {t["hostname"] for t in tasks if t["task_id"].startswith("validate_")}
    expect(cluster, all(homes[h] for h in validated_on), f"Data Docs per worker home: {homes}", run["run_id"])


def trigger_manual_run(cluster: AirflowCluster) -> dict:
    """`airflow dags trigger envmon_nightly`: a manual run without a logical date, whose trigger
    time (run_after) lies between the moments before and after the command."""
    before = datetime.now(timezone.utc)
    created = cluster.trigger()
    after = datetime.now(timezone.utc)
    run = next(r for r in cluster.runs() if r["run_id"] == created["run_id"])
    expect(cluster, run["run_type"] == "manual" and run["logical_date"] is None and before <= run["run_after"] <= after,
           f"manual run {run}, triggered between {before} and {after}")
    expected = {bureau_day_before(before), bureau_day_before(after)}
    expect(cluster, len(expected) == 1, f"the trigger straddled midnight in Asia/Shanghai: {before} .. {after}")
    return {**run, "expected_day": expected.pop()}


def assert_api_needs_a_fab_token(cluster: AirflowCluster) -> None:
    """GET /api/v2/dags: 401/403 without a token, after FAB refused a wrong password, and with the
    admin's own token's claims signed by another key; 200 with the DAGs listed with the token FAB's
    /auth/token gives the admin the init job created."""
    import jwt

    status, answer = cluster.api("/api/v2/dags")
    expect(cluster, status in (401, 403), f"GET /api/v2/dags without a token answered {status}: {str(answer)[:300]}")
    status, answer = cluster.api_token(password="not-the-password")
    expect(cluster, status == 401 and "access_token" not in str(answer), f"a wrong password got {status}: {answer}")
    status, answer = cluster.api_token()
    expect(cluster, status == 201 and answer.get("access_token"), f"/auth/token for the admin: {status} {answer}")
    token = answer["access_token"]
    forged = jwt.encode(jwt.decode(token, options={"verify_signature": False}), "not-the-jwt-secret",
                        algorithm=jwt.get_unverified_header(token)["alg"])
    status, answer = cluster.api("/api/v2/dags", token=forged)
    expect(cluster, status in (401, 403), f"a token signed with another key got {status}: {str(answer)[:300]}")
    status, answer = cluster.api("/api/v2/dags", token=token)
    expect(cluster, status == 200 and DAG_ID in {d["dag_id"] for d in answer["dags"]},
           f"GET /api/v2/dags with the admin's token answered {status}: {str(answer)[:300]}")


def test_celery_deployment_runs_scheduled_manual_and_backfill_days_on_two_workers(tmp_path):
    with AirflowCluster(tmp_path, executor="CeleryExecutor", workers=("worker1", "worker2")) as cluster:
        # 1. the scheduler creates the run of the latest 02:00 (Asia/Shanghai) by itself
        scheduled = cluster.wait_for_new_run(90, set(), run_type="scheduled")
        now = datetime.now(timezone.utc)
        expect(cluster, scheduled["logical_date"] in {latest_nightly_tick(now), latest_nightly_tick(now - timedelta(minutes=5))},
               f"scheduled run {scheduled}, expected the 02:00 Asia/Shanghai tick before {now}")
        expect(cluster, scheduled["logical_date"].astimezone(SHANGHAI).hour == 2 and
               scheduled["logical_date"].astimezone(timezone.utc).hour == 18, f"logical date of {scheduled}")
        scheduled = cluster.wait_for_run(scheduled["run_id"], RUN_TIMEOUT)
        expect(cluster, [r["run_id"] for r in cluster.runs() if r["run_type"] == "scheduled"] == [scheduled["run_id"]],
               "catchup=False: the latest tick alone is run, none of the earlier ones since start_date")
        assert_processed(cluster, [scheduled], [bureau_day_before(scheduled["logical_date"])])
        assert_on_both_workers(cluster, scheduled)
        cluster.reset_warehouse()

        # 2. a manual run without a logical date: the day before its trigger time
        known = {r["run_id"] for r in cluster.runs()}
        manual = trigger_manual_run(cluster)
        expect(cluster, manual["run_id"] not in known, f"manual run {manual}")
        expected_day = manual["expected_day"]
        manual = cluster.wait_for_run(manual["run_id"], RUN_TIMEOUT)
        assert_processed(cluster, [manual], [expected_day])
        cluster.reset_warehouse()

        # 3. a two-day backfill, one run at a time: from/to bound the runs' logical dates (the 02:00
        # ticks), and the 02:00 run of day D+1 processes day D
        first_day = bureau_day_before(scheduled["logical_date"]) - timedelta(days=3)
        days = [first_day, first_day + timedelta(days=1)]
        tick = {d: datetime.combine(d + timedelta(days=1), datetime.min.time().replace(hour=2), SHANGHAI) for d in days}
        # as an operator asks for it: `envmon backfill --deployment` submits `airflow backfill create`
        # over exactly the ticks of those days, with --max-active-runs 1
        cluster.run([str(BIN / "envmon"), "backfill", "--from", days[0].isoformat(), "--to", days[1].isoformat(),
                     "--deployment"], timeout=90, name="envmon-backfill")
        backfill = cluster.wait_until(lambda: [r for r in cluster.runs() if r["run_type"] == "backfill"] or None, 30,
                                      "the backfill's runs")
        expect(cluster, sorted(r["logical_date"] for r in backfill) == [tick[d] for d in days],
               f"backfill runs {backfill}, expected logical dates {[tick[d].isoformat() for d in days]}")
        backfill = [cluster.wait_for_run(r["run_id"], RUN_TIMEOUT)
                    for r in sorted(backfill, key=lambda r: r["logical_date"])]
        assert_processed(cluster, backfill, days)
        spans = sorted((r["start_date"], r["end_date"]) for r in backfill)
        expect(cluster, spans[0][1] <= spans[1][0], f"the backfill's runs overlapped: {spans}")
        # the Celery result backend (db+postgresql+psycopg://, the form docker-compose.yml uses) holds the outcomes
        # (a task instance is marked success through the execution API a moment before its Celery task ends)
        tasks_run = sum(len(cluster.task_instances(r["run_id"])) for r in (scheduled, manual, *backfill))
        cluster.wait_until(lambda: cluster.query("metadata", """
            SELECT count(*) FILTER (WHERE status = 'SUCCESS') >= :n AND bool_and(status = 'SUCCESS') AS done
            FROM celery_taskmeta""", n=tasks_run)[0]["done"], 30,
            f"the Celery result backend to hold {tasks_run} successful tasks")
        for run in (scheduled, manual, *backfill):
            print(f"{run['run_id']}: {(run['end_date'] - run['start_date']).total_seconds():.1f} s, "
                  f"hosts {sorted({t['hostname'] for t in cluster.task_instances(run['run_id'])})}")
        print(f"cluster: {cluster.timings}")


def test_local_executor_deployment_runs_a_manual_day(tmp_path):
    with AirflowCluster(tmp_path, executor="LocalExecutor", use_job_schedule=False, make_admin=True) as cluster:
        assert_api_needs_a_fab_token(cluster)  # production auth (issue 24), on the cluster already running
        manual = trigger_manual_run(cluster)
        expected_day = manual["expected_day"]
        manual = cluster.wait_for_run(manual["run_id"], RUN_TIMEOUT)
        expect(cluster, [r["run_id"] for r in cluster.runs()] == [manual["run_id"]],
               f"runs besides the manual one: {cluster.runs()}")
        assert_processed(cluster, [manual], [expected_day])
        print(f"{manual['run_id']}: {(manual['end_date'] - manual['start_date']).total_seconds():.1f} s; "
              f"cluster: {cluster.timings}")


COLLECT_AIR = "envmon_collect_cnemc_air"


def test_air_collection_dag_moves_past_a_missing_hour_under_the_scheduler(tmp_path):
    """Issue 21 through the real scheduler path (LocalExecutor): the air collection DAG against the
    fake CNEMC feed of tests/test_collection_ledger.py (20:00 missing, 1402A's 21:00 sent late, 1401A's
    22:00 revised), two manual runs on envmon's clock at 2026-03-16 02:30. Both runs succeed (no
    dag_failed notice); the missing hour is a gap after its second try, told once; the late and
    revised hours are ingested by the second run; `envmon collect status` shows it. The init runs
    in simulated mode: in live mode it requires working alert channels (issue 21's other half,
    tests/test_alerts_*), which this test does not set up."""
    from pipelines import clock
    from tests.test_collection_ledger import LATE, MISSING, NOW, REVISED, FakeAirFeed

    feed = FakeAirFeed()
    live = {"ENVMON_SOURCE_MODE": "live", "ENVMON_CNEMC_AIR_URL": feed.url,
            "ENVMON_CNEMC_WATER_URL": "http://127.0.0.1:9/unused", "ENVMON_COLLECT_MAX_TRIES": "2",
            "ENVMON_COLLECT_LOOKBACK_HOURS": "24", "ENVMON_FETCH_ATTEMPTS": "2",
            "ENVMON_FETCH_FIRST_WAIT_SECONDS": "0.05", clock.NOW_VARIABLE: clock.setting_for(NOW)}
    try:
        with AirflowCluster(tmp_path, executor="LocalExecutor", use_job_schedule=False, extra_env=live,
                            init_env={"ENVMON_SOURCE_MODE": "simulated"}) as cluster:
            cluster.wait_until(lambda: cluster.query("metadata", "SELECT 1 FROM serialized_dag WHERE dag_id = :d",
                                                     d=COLLECT_AIR), 120, f"the dag-processor to serialize {COLLECT_AIR}")

            def collect() -> dict:
                run = cluster.wait_for_run(cluster.trigger(COLLECT_AIR)["run_id"], RUN_TIMEOUT, dag_id=COLLECT_AIR)
                return cluster.xcom(run["run_id"], "collect_cnemc_air", dag_id=COLLECT_AIR)

            def ledger() -> dict:
                rows = cluster.query("warehouse", "SELECT expected_at, status, tries, stations FROM collection_ledger")
                return {f"{r['expected_at'].astimezone(SHANGHAI):%Y-%m-%dT%H00}": r for r in rows}

            first = collect()
            entries = ledger()
            expect(cluster, len(entries) == 24 and entries[MISSING]["status"] == "failed" and first["ledger"]["fetched"] == 23,
                   f"first run: {first['ledger']}, 20:00 {entries.get(MISSING)}")
            feed.late_station_sent.add(LATE)
            feed.pm25[REVISED] = 95
            second = collect()
            entries = ledger()
            expect(cluster, (entries[MISSING]["status"], entries[MISSING]["tries"]) == ("gap", 2)
                   and entries[LATE]["status"] == "late" and entries[REVISED]["status"] == "revised"
                   and second["feed_outage"] == "opened", f"second run: {second['ledger']}, {second['feed_outage']}")
            late = cluster.query("warehouse", "SELECT count(*) AS n FROM observations WHERE station_id = '1402A'")
            replaced = cluster.query("warehouse", """SELECT value FROM observation_history
                                                     WHERE station_id = '1401A' AND parameter = 'pm2_5'""")
            expect(cluster, late[0]["n"] > 0 and [r["value"] for r in replaced] == [28],
                   f"late station rows {late}, history {replaced}")
            kinds = [r["kind"] for r in cluster.query("warehouse", "SELECT kind FROM alert_notices")]
            expect(cluster, kinds.count("feed_outage") == 1 and "dag_failed" not in kinds, f"notices: {kinds}")
            status = last_json_line(cluster.run([str(BIN / "envmon"), "collect", "status", "--source", "cnemc-air",
                                                 "--json"], timeout=60, name="envmon-collect-status"))
            totals = status["totals"]["cnemc-air"]
            expect(cluster, (totals["gap"], totals["late"], totals["revised"]) == (1, 1, 1)
                   and status["outages"]["cnemc-air"] is not None, f"envmon collect status: {totals}")
            print(f"collection runs: {first['ledger']}, {second['ledger']}; cluster: {cluster.timings}")
    finally:
        feed.close()
