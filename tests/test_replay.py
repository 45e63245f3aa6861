"""The replay of recorded real feeds (replay/, pipelines/sources/replay.py) end to end on the
embedded default warehouse: `envmon run --replay` serves every recorded payload at its own fetch
time through the live collection path (the httpx clients against the replay's local feed, the
inbox for the per-section exports), then runs the real nightly DAG for each day; the 2020 JSON,
the 2021 JSON and the 2021 CSV formats go through the real parsers; days without data are told
as such, never as failures; and replaying a day again changes nothing."""
from __future__ import annotations

import hashlib
from datetime import datetime

import pytest

from tests import replay_fixture


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    return replay_fixture.played_once(tmp_path_factory)


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_recorded_payload_is_fetched_through_the_live_path_at_its_own_time(played):
    rows = replay_fixture.manifest(played["folder"])
    logged: dict[str, dict] = {}
    for payload in replay_fixture.export(played["home"], "payloads"):
        logged.setdefault(payload["sha256"], payload)  # the first fetch of each content
    first_air = replay_fixture.first_air_collection(rows, replay_fixture.LOOKBACK_HOURS)
    for row in rows:
        payload = logged.get(_sha(played["folder"] / row["file"]))
        assert payload is not None, f"{row['file']} was never fetched"
        assert payload["source"] == row["source"] and payload["status"] == "loaded", payload
        assert int(payload["rows_read"]) > 0, row["file"]
        fetched = replay_fixture.fetch_instant(row)
        if row["source"] == "cnemc-air":  # the hours before the first air collection come with it
            fetched = max(fetched, first_air)
        assert datetime.fromisoformat(payload["fetched_at"]) == fetched, row["file"]
        if row["channel"] == "feed":  # over HTTP from the replay's feed, as from CNEMC
            assert payload["origin"].startswith("http://127.0.0.1:"), payload["origin"]
        else:
            assert payload["origin"].endswith(f"/replay-inbox/{row['source']}/{row['file'].split('/')[-1]}")


def test_each_real_format_lands_its_own_days(played):
    days = {(o["source"], o["observed_at"][:10]) for o in replay_fixture.export(played["home"], "observations")}
    assert ("cnemc-water", "2020-05-08") in days  # the 2020 national JSON, Guangxi rows
    assert {("cnemc-water", f"2021-04-0{n}") for n in range(1, 6)} <= days  # the 2021 exports and JSON
    assert {("cnemc-air", "2026-03-08"), ("cnemc-air", "2026-03-09")} <= days  # the hourly air files


def test_a_day_the_feeds_did_not_cover_is_insufficient_data_never_a_failure(played):
    assessments = replay_fixture.export(played["home"], "assessments")
    water_on_air_days = [a for a in assessments if a["domain"] == "surface_water" and a["period_start"] == "2026-03-08"]
    assert water_on_air_days, "the nightly run of an air-only day assesses no section"
    assert {a["status"] for a in water_on_air_days} == {"insufficient data"}
    assert {a["is_compliant"] for a in water_on_air_days} == {""}  # neither met nor failed
    assessed = [a for a in assessments if a["domain"] == "surface_water" and a["status"] == "assessed"]
    assert {a["period_start"] for a in assessed} & {f"2021-04-0{n}" for n in range(1, 6)}


def test_the_run_reports_its_collections_and_reconciles(played):
    out = played["run"].stdout
    assert "payloads served by the replay feed" in out and "0 collections failed" in out, out
    assert "NO" not in [line.split("│")[-2].strip() for line in out.splitlines() if line.count("│") >= 7]


def test_replaying_a_day_again_changes_nothing(played):
    """The water day (its snapshot and the exports, collected again, and its nightly run)."""
    before = {table: replay_fixture.export(played["home"], table) for table in ("observations", "assessments")}
    again = replay_fixture.envmon(played["home"], "run", "--replay", str(played["folder"]), "--date", "2021-04-05")
    assert again.returncode == 0, again.stderr
    for table, rows in before.items():
        assert replay_fixture.export(played["home"], table) == rows, table


def test_a_folder_without_a_manifest_is_refused_in_one_line(tmp_path):
    result = replay_fixture.envmon(tmp_path, "run", "--replay", str(tmp_path))
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0
    assert "has no manifest.csv" in result.stderr


COLLECT_AIR = "envmon_collect_cnemc_air"


@pytest.mark.airflow_deployment
@pytest.mark.postgres
def test_the_air_collection_dag_takes_the_replay_under_the_scheduler(tmp_path):
    """The replay's feed behind the real scheduler path (LocalExecutor, the warehouse on
    PostgreSQL): envmon's clock at the fetch time of the 24th recorded air hour, a manual run of the
    air collection DAG in live mode fetches, over HTTP from the replay feed, exactly the 24 recorded
    hours its look-back reaches; the payload log holds their bytes, fetched then. (The init runs in
    simulated mode, as in tests/test_airflow_deployment.py: live mode's init checks alert channels.)"""
    from pipelines import clock
    from pipelines.sources.replay import ReplayFeed, read_manifest
    from tests.airflow_cluster import AirflowCluster
    from tests.test_airflow_deployment import RUN_TIMEOUT, expect

    folder = replay_fixture.cut(tmp_path / "replay")
    recorded = read_manifest(folder)
    hours = [r for r in recorded if r.source == "cnemc-air"][:replay_fixture.LOOKBACK_HOURS]
    at = hours[-1].fetched_at
    with ReplayFeed(folder, recorded, now=lambda: at) as feed:
        live = {**feed.environment(), "ENVMON_COLLECT_LOOKBACK_HOURS": str(replay_fixture.LOOKBACK_HOURS),
                clock.NOW_VARIABLE: clock.setting_for(at)}
        (tmp_path / "cluster").mkdir()
        with AirflowCluster(tmp_path / "cluster", executor="LocalExecutor", use_job_schedule=False, extra_env=live,
                            init_env={"ENVMON_SOURCE_MODE": "simulated"}) as cluster:
            cluster.wait_until(lambda: cluster.query("metadata", "SELECT 1 FROM serialized_dag WHERE dag_id = :d",
                                                     d=COLLECT_AIR), 120, f"the dag-processor to serialize {COLLECT_AIR}")
            run = cluster.wait_for_run(cluster.trigger(COLLECT_AIR)["run_id"], RUN_TIMEOUT, dag_id=COLLECT_AIR)
            logged = cluster.query("warehouse", "SELECT sha256, fetched_at, origin FROM payloads WHERE source = 'cnemc-air'")
            expected = {_sha(folder / r.file) for r in hours}
            expect(cluster, {row["sha256"] for row in logged} == expected,
                   f"{len(logged)} air payloads logged, {len(expected)} recorded hours", run["run_id"])
            expect(cluster, all(row["origin"].startswith(feed.base) and row["fetched_at"] >= at for row in logged),
                   f"payloads not from the replay feed at {at}: {logged[:2]}", run["run_id"])
            assert feed.served.count(hours[0].file) >= 1
