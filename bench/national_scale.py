"""National scope, end to end: simulated national days in the feeds' real formats through envmon.

    .venv/bin/python bench/national_scale.py --days 1 --json

At ENVMON_SCOPE=national, on a fresh schema of the local PostgreSQL (ENVMON_BENCH_POSTGRES_URL, default
the test server; dropped afterwards unless --keep): the stations and sections the CNEMC feeds list in
the real samples of ../shared/reference/formats (the national air hour's 1,601 stations, the national
water response's 1,900 sections) are simulated for each day by pipelines/sources/simulator.py
(national_air_day: 24 hourly CSV payloads; national_water_day: six 4-hourly Publish.ashx JSON
responses) and ingested as `envmon ingest` does (pipelines/ingest/batches.ingest: archive, parse, the
registry adopting every station the first payloads publish, validation, QC, the published comparison,
load, the days' assessments and rollups, the air annual statistics and the alert step), one day after
another. Then the app's Overview (the Dash callback the browser asks for: map, KPIs, cross-boundary
table; signed in as the regional user, through Flask's test client) and a station-year query (one air
station's daily rollups and assessments of the year) on the result.

Prints per day: seconds, observations read, obs/s, each stage's seconds; in all: the first day's and
the whole run's seconds, simulate seconds, peak RSS (resource.getrusage: the process's peak, the
simulator's arrays and the largest batch), the warehouse's size after the first day and per day after
(pg_total_relation_size of the schema's tables), Overview p50/p95 over --repeat asks, the station-year
query's p50/p95. A measurement, not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FORMATS = ROOT.parent / "shared" / "reference" / "formats"
AIR_SAMPLE = FORMATS / "cnemc-air" / "national-hourly-2026-03-15T12.csv"
WATER_SAMPLE = FORMATS / "cnemc-water" / "publish-ashx-2020-05-08.json"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PASSWORD = "national-scale-bench-1"


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def schema_bytes(engine, schema_name: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :schema AND c.relkind IN ('r', 'm')"),
            {"schema": schema_name}).scalar())


def day_payloads(day: date, seed: int, stations, sections) -> tuple[list, float]:
    """The day's 30 payloads as pipelines.ingest.batches items (fetched the next night), and the seconds it took."""
    from pipelines.ingest.batches import Payload
    from pipelines.clock import nightly_run_time
    from pipelines.sources import simulator

    started = time.perf_counter()
    air = simulator.national_air_day(day, seed, stations)
    water = simulator.national_water_day(day, seed, sections)
    seconds = time.perf_counter() - started
    fetched = nightly_run_time(day + timedelta(days=1))
    items = [Payload("cnemc-water", f"national-water-{when:%Y%m%dT%H%M}.json", fetched, content=body,
                     fetched_basis="the simulated fetch") for when, body in water.items()]
    items += [Payload("cnemc-air", f"national-air-{when:%Y%m%dT%H%M}.csv", fetched, content=body,
                      fetched_basis="the simulated fetch") for when, body in air.items()]
    return items, seconds


def run_day(day: date, seed: int, stations, sections, settings) -> dict:
    from pipelines.ingest import batches

    items, simulate_seconds = day_payloads(day, seed, stations, sections)
    started = time.perf_counter()
    outcome = batches.ingest(items, settings, again=True, assess=True)
    seconds = time.perf_counter() - started
    if outcome.refused or outcome.failed:
        raise SystemExit(f"{day}: refused {outcome.refused[:1]} failed {outcome.failed[:1]}")
    counts = [c for s in outcome.summaries for c in s.get("sources", {}).values()]
    loaded = sum(c.get("loaded", 0) for c in counts)
    out_of_scope = sum(c.get("out_of_scope", 0) for c in counts)
    return {"day": day.isoformat(), "simulate_seconds": round(simulate_seconds, 2), "seconds": round(seconds, 1),
            "observations_read": outcome.observations, "loaded": loaded, "out_of_scope": out_of_scope,
            "obs_per_second": round(outcome.observations / seconds) if seconds else None,
            "stages": {name: round(value, 1) for name, value in outcome.clock.seconds.items()},
            "peak_rss_mb": peak_rss_mb()}


def timed(call, repeat: int) -> dict:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    times.sort()
    return {"p50": round(statistics.median(times), 3),
            "p95": round(times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))], 3), "asks": repeat}


def overview_seconds(url: str, home: Path, repeat: int) -> dict:
    """The Overview's callback as the browser asks for it, signed in as the regional user, with the
    app's answer cache off (each ask reads the warehouse)."""
    import re

    from dashboards.app import create_app, users

    users_path = home / "users.json"
    users.add_user(users_path, "region", PASSWORD, "regional", "gx-dept")
    app = create_app(url, users_path, home, secret_key="bench", cache_seconds=0)
    client = app.server.test_client()
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', client.get("/login").get_data(as_text=True)))
    client.post("/login", data={**form, "username": "region", "password": PASSWORD})
    token = client.get_cookie("_csrf_token")
    if token is not None:
        client.environ_base["HTTP_X_CSRFTOKEN"] = token.value
    key = next(k for k in app.callback_map if "overview-map.figure" in k)
    outputs = [{"id": o.rsplit(".", 1)[0], "property": o.rsplit(".", 1)[1].split("@")[0]} for o in key.strip(".").split("...")]
    # every filter of the page as the browser first sends it: the day unset, the province (national
    # scope) and the city 'all'
    inputs = [{"id": i["id"], "property": i["property"], "value": None if i["property"] == "date" else ""}
              for i in app.callback_map[key]["inputs"]]
    body = {"output": key, "outputs": outputs, "inputs": inputs,
            "state": [{"id": "url", "property": "search", "value": ""}], "changedPropIds": []}

    def ask():
        answer = client.post("/_dash-update-component", json=body)
        if answer.status_code != 200:
            raise SystemExit(f"the Overview answered {answer.status_code}: {answer.data[:200]!r}")

    ask()  # the first ask builds the app's caches of the registry and the pages
    return timed(ask, repeat)


def station_year_seconds(engine, station_id: str, last_day: date, repeat: int) -> dict:
    from warehouse import queries

    first = date(last_day.year, 1, 1)

    def ask():
        queries.rollup_series(engine, [station_id], first, last_day)
        queries.assessments_between(engine, first, last_day, [station_id])

    return timed(ask, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2026, 11, 1))
    parser.add_argument("--seed", type=int, default=20260301)
    parser.add_argument("--repeat", type=int, default=20, help="asks of the Overview and the station-year query")
    parser.add_argument("--url", default=os.environ.get("ENVMON_BENCH_POSTGRES_URL", DEFAULT_URL))
    parser.add_argument("--keep", action="store_true", help="keep the schema (its name is printed)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not AIR_SAMPLE.exists() or not WATER_SAMPLE.exists():
        raise SystemExit(f"the real national samples are not at {FORMATS} (../shared beside this clone)")
    os.environ["ENVMON_SCOPE"] = "national"
    os.environ["ENVMON_SIMULATOR_FAULTS"] = "none"
    schema_name = f"envmon_national_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema_name}"'))
    url = f"{args.url}?options=-csearch_path%3D{schema_name}"
    home = Path(tempfile.mkdtemp(prefix="envmon-national-"))
    os.environ.update({"ENVMON_HOME": str(home), "ENVMON_WAREHOUSE_URL": url})
    try:
        from pipelines.config import load_settings
        from pipelines.sources import simulator
        from warehouse import db

        settings = load_settings()
        stations = simulator.feed_air_stations(AIR_SAMPLE.read_bytes())
        sections = simulator.feed_water_sections(WATER_SAMPLE.read_bytes())
        engine = db.engine_for(url)
        days, sizes = [], []
        started = time.perf_counter()
        for index in range(args.days):
            day = args.start + timedelta(days=index)
            days.append(run_day(day, args.seed, stations, sections, settings))
            sizes.append(schema_bytes(engine, schema_name))
            if not args.json:
                print(json.dumps(days[-1]), file=sys.stderr)
        total = time.perf_counter() - started
        last = days[-1]["day"]
        overview = overview_seconds(url, home, args.repeat)
        station = str(stations["stationcode"].iloc[0])
        station_year = station_year_seconds(engine, station, date.fromisoformat(last), args.repeat)
        with engine.connect() as connection:
            registry_size = connection.execute(text("SELECT count(DISTINCT station_id) FROM registry_stations")).scalar()
            versions = connection.execute(text("SELECT count(*) FROM registry_versions WHERE kind = 'adopt'")).scalar()
        result = {
            "days": args.days, "stations": len(stations), "sections": len(sections),
            "adopted_stations": int(registry_size), "adopt_versions": int(versions),
            "first_day_seconds": days[0]["seconds"] + days[0]["simulate_seconds"],
            "first_day": days[0],
            "later_day_seconds_mean": round(statistics.mean(d["seconds"] + d["simulate_seconds"] for d in days[1:]), 1)
            if len(days) > 1 else None,
            "total_seconds": round(total, 1),
            "observations_read": sum(d["observations_read"] for d in days),
            "obs_per_second": round(sum(d["observations_read"] for d in days) / total),
            "simulate_seconds": round(sum(d["simulate_seconds"] for d in days), 1),
            "peak_rss_mb": peak_rss_mb(),
            "warehouse_mb_first_day": round(sizes[0] / 2**20, 1),
            "warehouse_mb_per_day": round((sizes[-1] - sizes[0]) / (len(sizes) - 1) / 2**20, 1) if len(sizes) > 1
            else round(sizes[0] / 2**20, 1),
            "warehouse_mb": round(sizes[-1] / 2**20, 1),
            "overview_seconds": overview, "station_year_seconds": station_year,
            "load_average": [round(x, 2) for x in os.getloadavg()], "schema": schema_name if args.keep else None,
        }
        if args.days > 1:
            result["per_day"] = [{k: d[k] for k in ("day", "seconds", "obs_per_second", "stages", "peak_rss_mb")} for d in days]
        print(json.dumps(result) if args.json else json.dumps(result, indent=2, ensure_ascii=False))
    finally:
        if not args.keep:
            from warehouse import db

            db.engine_for(url).dispose()
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema_name}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
