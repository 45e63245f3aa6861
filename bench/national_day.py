"""A national-scale simulated day through the pipeline, against the naive way and the COPY floor.

    .venv/bin/python bench/national_day.py --json

About 3,600 surface-water sections × 6 readings × 9 parameters and 1,700 air stations × 24 hours ×
7 values (≥ 400,000 observations), on the PostgreSQL at ENVMON_BENCH_POSTGRES_URL (default: the
local test server), each run in a schema of its own that is dropped afterwards. Prints one JSON line:
observations, pipeline_seconds (parse + validate + load), load_seconds, assess_seconds,
baseline_seconds (same parse, Great Expectations on the whole frame with one expectation per
parameter, then DataFrame.to_sql with its defaults), baseline_envmon_suite_seconds (the same with
envmon's own suite instead: only the load differs), copy_seconds (binary COPY into an unindexed
table), rerun_seconds (the unchanged day again) and peak_rss_mb. A measurement, not a test.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import resource
import time
import uuid
from datetime import date, datetime

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, text

from pipelines.assessment import air_quality, surface_water
from pipelines.quality import qc
from pipelines.observations import BEIJING_OFFSET_MINUTES, BUREAU_TZ, batch_id, bureau_day, conform
from pipelines.quality.validation import _context as validation_context
from pipelines.quality.validation import validate
from warehouse import db

DAY = date(2026, 11, 20)
WATER_PARAMETERS = ("water_temp", "ph", "do", "conductivity", "turbidity", "codmn", "nh3n", "tp", "tn")
WATER_LEVELS = {"water_temp": 22.0, "ph": 7.4, "do": 7.0, "conductivity": 300.0, "turbidity": 15.0,
                "codmn": 3.0, "nh3n": 0.4, "tp": 0.1, "tn": 1.5}
AIR_VALUES = (("so2", "PT1H", 8.0), ("no2", "PT1H", 25.0), ("co", "PT1H", 0.8), ("o3", "PT1H", 70.0),
              ("pm10", "PT1H", 55.0), ("pm2_5", "PT1H", 32.0), ("o3", "PT8H", 65.0))
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def national_day(sections: int, stations: int, seed: int = 1) -> dict[str, pd.DataFrame]:
    """The simulated national network's day, in the canonical form, one frame per source."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(DAY, tz=BUREAU_TZ)
    water_ids = np.array([f"NAT-W-{i:05d}" for i in range(sections)])
    hours = np.arange(0, 24, 4)
    w_station = np.repeat(water_ids, len(hours) * len(WATER_PARAMETERS))
    w_hour = np.tile(np.repeat(hours, len(WATER_PARAMETERS)), sections)
    w_param = np.tile(np.array(WATER_PARAMETERS), sections * len(hours))
    w_level = np.vectorize(WATER_LEVELS.get)(w_param)
    w_value = np.round(w_level * np.exp(rng.normal(0, 0.15, len(w_param))), 3)
    air_ids = np.array([f"NAT-A-{i:05d}" for i in range(stations)])
    a_station = np.repeat(air_ids, 24 * len(AIR_VALUES))
    a_hour = np.tile(np.repeat(np.arange(1, 25), len(AIR_VALUES)), stations)
    a_param = np.tile(np.array([v[0] for v in AIR_VALUES]), stations * 24)
    a_period = np.tile(np.array([v[1] for v in AIR_VALUES]), stations * 24)
    a_level = np.tile(np.array([v[2] for v in AIR_VALUES]), stations * 24)
    a_value = np.round(a_level * np.exp(rng.normal(0, 0.3, len(a_param))), 1)
    frames = {}
    for source, station, hour, param, period, value in (
            ("simulated-water", w_station, w_hour, w_param, np.full(len(w_param), "PT0S"), w_value),
            ("simulated-air", a_station, a_hour, a_param, a_period, a_value)):
        frames[source] = pd.DataFrame({
            "station_id": station, "parameter": param,
            "observed_at": (start + pd.to_timedelta(hour, unit="h")).tz_convert("UTC"),
            "utc_offset_minutes": BEIJING_OFFSET_MINUTES, "averaging_period": period, "value": value,
            "unit": "", "qc_flag": "not_evaluated", "qc_note": "", "source": source, "batch_id": "",
            "original_value": value.astype(str)})
    return frames


def payloads(frames: dict[str, pd.DataFrame]) -> dict[str, bytes]:
    return {source: frame.to_csv(index=False).encode() for source, frame in frames.items()}


def parse(payload: bytes) -> pd.DataFrame:
    frame = pd.read_csv(io.BytesIO(payload), dtype={"qc_note": str, "batch_id": str, "original_value": str,
                                                    "unit": str}, keep_default_na=False, na_values=[""])
    frame["observed_at"] = pd.to_datetime(frame["observed_at"], utc=True)
    return conform(frame)


DATASET = {"simulated-water": "water", "simulated-air": "air"}


def pipeline(engine, blobs: dict[str, bytes], stations: dict[str, tuple]) -> dict[str, float]:
    """parse → validate (Great Expectations, then QC) → load, as the nightly steps do, skipping a
    batch already loaded."""
    seconds = {"parse": 0.0, "validate": 0.0, "load": 0.0}
    for source, blob in blobs.items():
        started = time.perf_counter()
        frame = parse(blob)
        frame["batch_id"] = batch_id(source, DAY, frame)
        seconds["parse"] += time.perf_counter() - started
        if db.partition_batch(engine, source, DAY) == frame["batch_id"].iloc[0]:
            continue  # an unchanged re-run touches nothing
        started = time.perf_counter()
        outcome = validate(frame, DATASET[source], stations[source])
        checked = qc.apply(outcome.good)  # as the nightly validate step does
        seconds["validate"] += time.perf_counter() - started
        started = time.perf_counter()
        good = checked.assign(partition_day=bureau_day(checked["observed_at"], checked["averaging_period"]))
        log = {"source": source, "partition_day": DAY, "domain": DATASET[source], "batch_id": frame["batch_id"].iloc[0],
               "rows_read": len(frame), "rows_loaded": len(good), "rows_quarantined": len(outcome.quarantined),
               "suite_name": outcome.suite_name, "loaded_at": datetime.now().astimezone()}
        db.load_partition(engine, source, DAY, good, outcome.quarantined.assign(partition_day=DAY), log)
        seconds["load"] += time.perf_counter() - started
    return seconds


def naive_suite(dataset: str, stations: tuple):
    """What a user writes first: one range expectation per parameter, each with a row condition."""
    import great_expectations as gx

    from expectations.build import DATASET_PARAMETERS
    ranges = pd.read_csv("pipelines/reference/data/qc_parameters.csv").set_index("code").rename(
        columns={"instrument_min": "min", "instrument_max": "max"})
    suite = gx.ExpectationSuite(name=f"naive_{dataset}")
    suite.add_expectation(gx.expectations.ExpectColumnValuesToBeInSet(column="station_id", value_set=list(stations)))
    for code in DATASET_PARAMETERS[dataset]:
        suite.add_expectation(gx.expectations.ExpectColumnValuesToBeBetween(
            column="value", min_value=float(ranges.loc[code, "min"]), max_value=float(ranges.loc[code, "max"]),
            row_condition=f'parameter=="{code}"', condition_parser="pandas"))
    return suite


def baseline(engine, blobs: dict[str, bytes], stations: dict[str, tuple]) -> float:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    started = time.perf_counter()
    for source, blob in blobs.items():
        frame = parse(blob)
        suite = context.suites.add(naive_suite(DATASET[source], stations[source]))
        batch = context.data_sources.add_pandas(f"naive_{source}").add_dataframe_asset("a") \
            .add_batch_definition_whole_dataframe("b").get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(suite, result_format="COMPLETE")
        bad = {i for r in result.results for i in (r.result.get("unexpected_index_list") or [])}
        frame.drop(index=list(bad)).to_sql("observations_baseline", engine, if_exists="append", index=False)
    return time.perf_counter() - started


def baseline_with_envmon_suite(engine, blobs: dict[str, bytes], stations: dict[str, tuple]) -> float:
    """A stricter baseline: the same parse and envmon's own generated suite (the pipeline's validation
    call, without QC), then DataFrame.to_sql with its defaults: what is left is the load."""
    started = time.perf_counter()
    for source, blob in blobs.items():
        outcome = validate(parse(blob), DATASET[source], stations[source])
        outcome.good.to_sql("observations_baseline_suite", engine, if_exists="append", index=False)
    return time.perf_counter() - started


def copy_floor(engine, blobs: dict[str, bytes]) -> float:
    frames = [parse(blob) for blob in blobs.values()]
    columns = ["source", "station_id", "parameter", "observed_at", "averaging_period", "value", "unit", "qc_flag",
               "batch_id", "original_value"]
    types = ["text", "text", "text", "timestamptz", "text", "float8", "text", "text", "text", "text"]
    rows = [frame[columns].astype(object).where(frame[columns].notna(), None).itertuples(index=False, name=None)
            for frame in frames]
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE copy_floor (source text, station_id text, parameter text, "
                                "observed_at timestamptz, averaging_period text, value float8, unit text, "
                                "qc_flag text, batch_id text, original_value text)"))
    started = time.perf_counter()
    with engine.begin() as connection:
        cursor = connection.connection.driver_connection.cursor()
        with cursor.copy(f"COPY copy_floor ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for batch in rows:
                for row in batch:
                    copy.write_row(row)
    return time.perf_counter() - started


def assess(engine) -> float:
    """The day's assessment of the national network with the engine's own functions."""
    started = time.perf_counter()
    observations = db.observations_for_day(engine, DAY)
    water = observations[observations["source"] == "simulated-water"]
    means = water.groupby(["station_id", "parameter"])["value"].mean().unstack()
    for values in means.to_dict(orient="index").values():
        surface_water.classify(values, "river", "Ⅲ")
    air = observations[(observations["source"] == "simulated-air") & (observations["averaging_period"] == "PT1H")]
    daily = air.groupby(["station_id", "parameter"])["value"].agg(["mean", "max", "count"])
    for station, rows in daily.groupby(level=0):
        rows = rows.droplevel(0)
        values = {p: rows.loc[p, "mean"] for p in ("so2", "no2", "co", "pm10", "pm2_5") if p in rows.index}
        values["o3"] = rows.loc["o3", "max"] if "o3" in rows.index else None
        air_quality.daily_aqi({k: v for k, v in values.items() if v is not None})
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sections", type=int, default=3600)
    parser.add_argument("--stations", type=int, default=1700)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    url = os.environ.get("ENVMON_BENCH_POSTGRES_URL", DEFAULT_URL)
    schema_name = f"envmon_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema_name}"'))
    engine = create_engine(f"{url}?options=-csearch_path%3D{schema_name}")
    try:
        db.migrate(engine)
        frames = national_day(args.sections, args.stations)
        stations = {source: tuple(sorted(frame["station_id"].unique())) for source, frame in frames.items()}
        blobs = payloads(frames)
        observations = sum(len(frame) for frame in frames.values())
        validation_context()  # the baseline, too, makes its Great Expectations context before its clock starts
        started = time.perf_counter()
        steps = pipeline(engine, blobs, stations)
        pipeline_seconds = time.perf_counter() - started
        assess_seconds = assess(engine)
        started = time.perf_counter()
        pipeline(engine, blobs, stations)
        rerun_seconds = time.perf_counter() - started
        baseline_seconds = baseline(engine, blobs, stations)
        suite_baseline_seconds = baseline_with_envmon_suite(engine, blobs, stations)
        copy_seconds = copy_floor(engine, blobs)
        result = {
            "observations": observations,
            "pipeline_seconds": round(pipeline_seconds, 2), "load_seconds": round(steps["load"], 2),
            "parse_seconds": round(steps["parse"], 2), "validate_seconds": round(steps["validate"], 2),
            "assess_seconds": round(assess_seconds, 2), "baseline_seconds": round(baseline_seconds, 2),
            "baseline_envmon_suite_seconds": round(suite_baseline_seconds, 2),
            "copy_seconds": round(copy_seconds, 2), "rerun_seconds": round(rerun_seconds, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
        result["speedup_vs_baseline"] = round(baseline_seconds / pipeline_seconds, 2)
        result["speedup_vs_envmon_suite_baseline"] = round(suite_baseline_seconds / pipeline_seconds, 2)
        result["load_vs_copy_floor"] = round(steps["load"] / copy_seconds, 2)
        result["rerun_share_of_first_run"] = round(rerun_seconds / pipeline_seconds, 3)
        print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema_name}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
