"""`envmon api` (issue 26) on ten years of history: p95 of a station-year EDR query and of the
`sections` collection (target: each ≤ 200 ms), and the rows/s of a year's export along `next` links.

The history is made here, fast, and kept between runs in a schema of the local PostgreSQL
(default envmon_bench_api): every registry section (39: 9 parameters every 4 hours) and air station
(26: 6 parameters every hour) over the ten years before --last, ≈ 21 million observations, written
with PostgreSQL's COPY in CSV, a month at a time, with one partition-log row per source and day.
The values are synthetic (a seasonal baseline per parameter and noise, 1 % suspect): what the
API's timings depend on is the warehouse's size and shape, not the simulator's realism, and the
simulator (bench/history.py) takes 11 minutes or more for the same years. A schema built for the
same years is reused (its table bench_api_build says what was built and how long it took);
--rebuild drops it first.

Then `envmon api` is started on it (a subprocess, as deployed: uvicorn), a partner key holding
every city is added, and:
- station-year: GET /collections/water-observations/locations/{section}?datetime=YEAR with
  limit=10000 (a section-year is ≈ 19,700 values: the first page), and the whole section-year
  along the next links, for --rounds sections and years drawn at random; the same for an air
  station's year (≈ 52,600 values);
- sections: GET /collections/sections/items?limit=100 (the 39 sections with their targets);
- export: every water value of one year for the partner, along the next links (limit 10000),
  rows/s (stopped after --export-seconds, and said so).
p50/p95 over the rounds; the first call of each kind is reported apart (cold).

    .venv/bin/python bench/api.py --json                      # builds once (minutes), then measures
    .venv/bin/python bench/api.py --rounds 40 --json          # reuses the built schema
    .venv/bin/python bench/api.py --json --drop               # and drops it at the end (≈ 8 GB of disk)
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SCHEMA = "envmon_bench_api"
BASELINES = {  # a typical value and its relative spread, per parameter (units: the warehouse's)
    "water_temp": (22.0, 0.25), "ph": (7.3, 0.04), "do": (7.2, 0.15), "conductivity": (260.0, 0.2),
    "turbidity": (15.0, 0.5), "codmn": (2.8, 0.25), "nh3n": (0.3, 0.5), "tp": (0.08, 0.4), "tn": (1.4, 0.3),
    "so2": (9.0, 0.5), "no2": (22.0, 0.5), "co": (0.7, 0.3), "o3": (60.0, 0.6), "pm10": (50.0, 0.5),
    "pm2_5": (30.0, 0.6),
}
WATER = ("water_temp", "ph", "do", "conductivity", "turbidity", "codmn", "nh3n", "tp", "tn")
AIR = ("so2", "no2", "co", "o3", "pm10", "pm2_5")
COLUMNS = ["source", "station_id", "parameter", "observed_at", "averaging_period", "layer", "partition_day",
           "utc_offset_minutes", "value", "unit", "qc_flag", "qc_note", "batch_id", "original_value"]


def _url(server: str, schema: str) -> str:
    return f"{server}?options=-csearch_path%3D{schema}"


# --- the history --------------------------------------------------------------------------------------
def _month_frame(kind: str, stations: list[str], month: date, rng: np.random.Generator, units: dict) -> pd.DataFrame:
    """One month of a domain's observations, every station × time × parameter, as COPY columns."""
    from pipelines.clock import BUREAU_TZ

    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    start = pd.Timestamp(month, tz=BUREAU_TZ)
    if kind == "water":   # 00, 04, ... 20 h on the bureaus' clock, instantaneous
        times = pd.date_range(start, pd.Timestamp(following, tz=BUREAU_TZ), freq="4h", inclusive="left")
        parameters, period, source, back = WATER, "PT0S", "simulated-water", pd.Timedelta(0)
    else:                 # hour ends 01:00 … 24:00, hourly means
        times = pd.date_range(start + pd.Timedelta(hours=1), pd.Timestamp(following, tz=BUREAU_TZ), freq="1h")
        parameters, period, source, back = AIR, "PT1H", "simulated-air", pd.Timedelta(hours=1)
    n_s, n_t, n_p = len(stations), len(times), len(parameters)
    station = np.repeat(np.array(stations, dtype=object), n_t * n_p)
    when = np.tile(np.repeat(times.tz_convert("UTC").to_numpy(), n_p), n_s)
    parameter = np.tile(np.array(parameters, dtype=object), n_s * n_t)
    base = np.tile(np.array([BASELINES[p][0] for p in parameters]), n_s * n_t)
    spread = np.tile(np.array([BASELINES[p][1] for p in parameters]), n_s * n_t)
    season = 1 + 0.2 * np.sin(2 * np.pi * (month.month - 4) / 12)
    value = np.round(np.abs(base * season * (1 + spread * rng.standard_normal(len(base)))), 3)
    suspect = rng.random(len(base)) < 0.01
    local_day = (pd.DatetimeIndex(when).tz_convert(BUREAU_TZ) - back).date
    frame = pd.DataFrame({
        "source": source, "station_id": station, "parameter": parameter, "observed_at": when,
        "averaging_period": period, "layer": "", "partition_day": local_day, "utc_offset_minutes": 480,
        "value": value, "unit": pd.Series(parameter).map(units).to_numpy(),
        "qc_flag": np.where(suspect, "suspect", "good"), "qc_note": np.where(suspect, "spike", ""),
        "batch_id": [f"{source}/{d.isoformat()}/bench" for d in local_day], "original_value": value.astype(str)})
    return frame


def _copy(connection, frame: pd.DataFrame, table: str, columns: list[str], not_null=()) -> None:
    """CSV COPY; in `not_null` columns an empty field is '' (CSV's empty is NULL otherwise)."""
    options = f", FORCE_NOT_NULL ({', '.join(not_null)})" if not_null else ""
    buffer = io.StringIO()
    frame[columns].to_csv(buffer, index=False, header=False, date_format="%Y-%m-%d %H:%M:%S%z")
    raw = connection.connection.driver_connection
    with raw.cursor() as cursor:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT csv{options})") as copy:
            copy.write(buffer.getvalue())


def build(url: str, first: date, last: date, seed: int = 26) -> dict:
    """The ten years, month by month; returns rows and seconds."""
    from sqlalchemy import text

    from pipelines.config import load_settings
    from pipelines.nightly import prepare_warehouse
    from pipelines.reference import registry, standards
    from warehouse import db

    started = time.perf_counter()
    settings = load_settings({"ENVMON_HOME": str(ROOT / ".envmon" / "bench-api"), "ENVMON_WAREHOUSE_URL": url})
    prepare_warehouse(settings)
    engine = db.engine_for(url)
    stations = registry.all_stations()
    sections = sorted(stations[stations["station_type"].isin(("river", "lake-reservoir"))]["station_id"])
    air = sorted(stations[stations["station_type"] == "air"]["station_id"])
    units = {p: standards.unit_of(p) for p in WATER + AIR}
    rng = np.random.default_rng(seed)
    rows, month = 0, date(first.year, first.month, 1)
    loaded_at = datetime(2026, 12, 1, tzinfo=timezone.utc)
    while month <= last:
        frames = [_month_frame("water", sections, month, rng, units), _month_frame("air", air, month, rng, units)]
        frame = pd.concat(frames, ignore_index=True)
        frame = frame[(frame["partition_day"] >= first) & (frame["partition_day"] <= last)]
        db.ensure_observation_partitions(engine, sorted(set(frame["partition_day"])))
        counts = frame.groupby(["source", "partition_day"]).size().reset_index(name="rows_loaded")
        log = counts.assign(domain=counts["source"].map({"simulated-water": "water", "simulated-air": "air"}),
                            batch_id=[f"{s}/{d.isoformat()}/bench" for s, d in zip(counts["source"], counts["partition_day"])],
                            rows_read=counts["rows_loaded"], rows_quarantined=0,
                            suite_name=counts["source"].map({"simulated-water": "envmon_water_observations",
                                                             "simulated-air": "envmon_air_observations"}),
                            loaded_at=loaded_at)
        with engine.begin() as connection:
            _copy(connection, frame, "observations", COLUMNS, not_null=("layer", "qc_note"))
            _copy(connection, log, "partition_log", ["source", "partition_day", "domain", "batch_id", "rows_read",
                                                     "rows_loaded", "rows_quarantined", "suite_name", "loaded_at"])
        rows += len(frame)
        print(f"  {month:%Y-%m}: {rows:,} rows, {time.perf_counter() - started:.0f} s", file=sys.stderr)
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))
    return {"rows": rows, "seconds": round(time.perf_counter() - started, 1)}


def ensure_history(server: str, schema: str, first: date, last: date, rebuild: bool) -> dict:
    """The built schema for these years (reused), or a new one."""
    from sqlalchemy import create_engine, text

    admin = create_engine(server)
    with admin.begin() as connection:
        if rebuild:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        exists = connection.execute(text("SELECT to_regclass(:t)"), {"t": f'"{schema}".bench_api_build'}).scalar()
        if exists:
            row = connection.execute(text(f'SELECT first_day, last_day, rows, seconds, built_at FROM "{schema}".bench_api_build'
                                          )).mappings().first()
            if row and (row["first_day"], row["last_day"]) == (first, last):
                admin.dispose()
                return {**dict(row), "reused": True}
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    built = build(_url(server, schema), first, last)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE TABLE "{schema}".bench_api_build (first_day date, last_day date, rows bigint, '
                                f'seconds double precision, built_at timestamptz)'))
        connection.execute(text(f'INSERT INTO "{schema}".bench_api_build VALUES (:f, :l, :r, :s, now())'),
                           {"f": first, "l": last, "r": built["rows"], "s": built["seconds"]})
    admin.dispose()
    return {"first_day": first, "last_day": last, **built, "reused": False}


def drop_history(server: str, schema: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(server)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


# --- the measurements -----------------------------------------------------------------------------------
def _start_api(url: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "ENVMON_WAREHOUSE_URL": url, "ENVMON_HOME": str(ROOT / ".envmon" / "bench-api"),
           "ENVMON_API_PUBLIC_RATE": "100000/minute", "ENVMON_API_PARTNER_RATE": "100000/minute"}
    process = subprocess.Popen([str(ROOT / ".venv" / "bin" / "envmon"), "api", "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"envmon api ended: {process.stderr.read()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/healthz", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.5)
    process.terminate()
    raise SystemExit("envmon api did not answer within 120 s")


def _partner_key(url: str) -> str:
    from pipelines.api import access
    from pipelines.reference import registry
    from warehouse import api_store, db

    stations = registry.all_stations()
    cities = ",".join(f"city:{c}" for c in sorted(stations["city"].dropna().unique()))
    scope = api_store.check_scope(api_store.parse_scope(cities), stations, access.city_of_bureau())
    _, key = api_store.add_key(db.engine_for(url), "bench/api.py", scope, "bench", "cli:bench")
    return key


def _timed(client, url: str, follow: bool = False) -> tuple[float, int]:
    """Milliseconds and observation rows (or features) of one request, or of every page."""
    started, rows = time.perf_counter(), 0
    while url:
        response = client.get(url)
        response.raise_for_status()
        body = response.json()
        rows += _rows_of(body)
        url = next((link["href"] for link in body.get("links", []) if link.get("rel") == "next"), None) if follow else None
    return (time.perf_counter() - started) * 1000, rows


def _rows_of(body: dict) -> int:
    if body.get("type") == "FeatureCollection":
        return len(body["features"])
    return sum(sum(1 for v in r["values"] if v is not None) for c in body.get("coverages", [])
               for k, r in c["ranges"].items() if "." not in k)


def _percentiles(samples: list[float]) -> dict:
    cold, warm = samples[0], sorted(samples[1:]) or sorted(samples)
    p95 = warm[min(len(warm) - 1, int(round(0.95 * (len(warm) - 1))))]
    return {"cold_ms": round(cold, 1), "p50_ms": round(statistics.median(warm), 1), "p95_ms": round(p95, 1),
            "max_ms": round(warm[-1], 1), "calls": len(samples)}


def measure(url: str, first: date, last: date, rounds: int, export_seconds: float, port: int) -> dict:
    import httpx

    from pipelines.reference import registry

    stations = registry.all_stations()
    sections = sorted(stations[stations["station_type"].isin(("river", "lake-reservoir"))]["station_id"])
    air = sorted(stations[stations["station_type"] == "air"]["station_id"])
    years = list(range(first.year + 1, last.year))  # whole years inside the history
    rng = random.Random(26)
    key = _partner_key(url)
    server = _start_api(url, port)
    base = f"http://127.0.0.1:{port}/api"
    out = {}
    try:
        with httpx.Client(headers={"X-API-Key": key}, timeout=600) as client:
            cases = {
                "section_year_first_page": lambda s, y: (f"{base}/collections/water-observations/locations/{s}"
                                                         f"?datetime={y}-01-01/{y}-12-31&limit=10000", False),
                "section_year_all_pages": lambda s, y: (f"{base}/collections/water-observations/locations/{s}"
                                                        f"?datetime={y}-01-01/{y}-12-31&limit=10000", True),
                "air_station_year_first_page": lambda s, y: (f"{base}/collections/air-observations/locations/{s}"
                                                             f"?datetime={y}-01-01/{y}-12-31&limit=10000", False),
                "air_station_year_all_pages": lambda s, y: (f"{base}/collections/air-observations/locations/{s}"
                                                            f"?datetime={y}-01-01/{y}-12-31&limit=10000", True),
            }
            for name, make in cases.items():
                samples, rows = [], []
                for _ in range(rounds):
                    pool = air if name.startswith("air") else sections
                    request, follow = make(rng.choice(pool), rng.choice(years))
                    ms, n = _timed(client, request, follow)
                    samples.append(ms)
                    rows.append(n)
                out[name] = {**_percentiles(samples), "rows_median": int(statistics.median(rows))}
            samples = [_timed(client, f"{base}/collections/sections/items?limit=100")[0] for _ in range(rounds)]
            out["sections_collection"] = _percentiles(samples)
            out["export_year"] = _export(client, base, years[-1], export_seconds)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return out


def _export(client, base: str, year: int, budget: float) -> dict:
    """Every water value of the year, page after page along next links, until done or the budget."""
    url = (f"{base}/collections/water-observations/area?coords=POLYGON((100 15, 120 15, 120 30, 100 30, 100 15))"
           f"&datetime={year}-01-01/{year}-12-31&limit=10000")
    started, rows, pages, page_ms = time.perf_counter(), 0, 0, []
    while url:
        t = time.perf_counter()
        response = client.get(url)
        response.raise_for_status()
        body = response.json()
        page_ms.append((time.perf_counter() - t) * 1000)
        rows += _rows_of(body)
        pages += 1
        url = next((link["href"] for link in body.get("links", []) if link.get("rel") == "next"), None)
        if url and time.perf_counter() - started > budget:
            break
    seconds = time.perf_counter() - started
    return {"year": year, "rows": rows, "pages": pages, "complete": url is None, "seconds": round(seconds, 1),
            "rows_per_second": round(rows / seconds), "first_page_ms": round(page_ms[0]),
            "last_page_ms": round(page_ms[-1])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default=os.environ.get("ENVMON_TEST_POSTGRES_URL", SERVER))
    parser.add_argument("--schema", default=SCHEMA)
    parser.add_argument("--last", type=date.fromisoformat, default=date(2026, 11, 30))
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--export-seconds", type=float, default=300.0)
    parser.add_argument("--port", type=int, default=8797)
    parser.add_argument("--rebuild", action="store_true", help="drop the kept schema and build it again")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--drop", action="store_true",
                        help="drop the kept schema at the end (a shared disk: the next run builds it again)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    first = date(args.last.year - args.years, args.last.month, args.last.day) + timedelta(days=1)
    history = ensure_history(args.server, args.schema, first, args.last, args.rebuild)
    result = {"machine": f"{platform.node()} {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}",
              "date": datetime.now().isoformat(timespec="minutes"),  # noqa: DTZ005 - the bench's own wall clock
              "history": {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in history.items()}}
    if not args.build_only:
        result["api"] = measure(_url(args.server, args.schema), first, args.last, args.rounds, args.export_seconds,
                                args.port)
        result["load_average_after"] = round(os.getloadavg()[0], 1)
    if args.drop:
        drop_history(args.server, args.schema)
        result["history"]["dropped"] = True
    print(json.dumps(result, ensure_ascii=False) if args.json else json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
