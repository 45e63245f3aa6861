"""`envmon ingest` of many payloads in one go (pipelines/ingest/batches.py): several --file, a folder,
a glob, on both warehouses. The fixtures are payloads of the real formats written here: CNEMC
hourly air CSVs (the feed's 22 columns, a station outside the registry, a value revised by a later
file, a bad cell, a repeated row, a value below the instrument's range), CNEMC water per-section
CSV exports (times without a year, four-hourly) and a laboratory results CSV."""
import json
import math
from contextlib import ExitStack
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from pipelines.cli import exports
from pipelines.cli.commands import main
from pipelines.observations import BUREAU_TZ
from pipelines.reference import registry
from tests.conftest import fresh_postgres_schema
from warehouse import db

FETCHED = "2026-11-05T08:00:00+08:00"
FIRST_DAY = date(2026, 10, 31)  # the archive crosses a month: two months' rollups and month rows
AIR_HEADER = ("timepoint,stationcode,longitude,latitude,area,positionname,primarypollutant,aqi,pm10,pm10_24h,pm2_5,"
              "pm2_5_24h,o3,o3_24h,o3_8h,o3_8h_24h,no2,no2_24h,so2,so2_24h,co,co_24h")
WATER_HEADER = ("省份,流域,断面名称,监测时间,水质类别,水温(℃),pH(无量纲),溶解氧(mg/L),电导率(μS/cm),浊度(NTU),"
                "高锰酸盐指数(mg/L),氨氮(mg/L),总磷(mg/L),总氮(mg/L),叶绿素α(mg/L),藻密度(cells/L),站点情况")
STATIONS = 4


def _air_row(stamp: datetime, station: str, n: int, hour: int, overrides: dict | None = None) -> str:
    """One station-hour of the feed: values that move from hour to hour (no flat lines)."""
    wobble = (hour * 7 + n * 3) % 11
    values = {"pm10": 40 + wobble, "pm10_24h": 45, "pm2_5": 20 + wobble % 7, "pm2_5_24h": 22,
              "o3": 50 + 2 * wobble, "o3_24h": 60, "o3_8h": 55 + wobble, "o3_8h_24h": 58,
              "no2": 15 + wobble % 5, "no2_24h": 16, "so2": 5 + wobble % 3, "so2_24h": 6,
              "co": f"{0.5 + wobble / 20:.2f}", "co_24h": "0.6", **(overrides or {})}
    columns = AIR_HEADER.split(",")[8:]
    return (f"{stamp:%Y-%m-%dT%H%M},{station},108.3,22.8,南宁市,站{n},,{50 + wobble},"
            + ",".join(str(values[c]) for c in columns))


def air_payload(day: date, hours, overrides: dict | None = None, extra: list[str] = ()) -> bytes:
    """An hourly CNEMC air CSV of the first STATIONS registry stations and one station outside the
    registry (out of scope) at `hours` (1..24, hour-end) of `day`. `overrides`: (station index, hour)
    → column values."""
    lines = [AIR_HEADER]
    stations = list(registry.air_stations().index[:STATIONS])
    for hour in hours:
        stamp = datetime.combine(day, datetime.min.time()) + timedelta(hours=hour)
        for n, station in enumerate(stations):
            lines.append(_air_row(stamp, station, n, hour, (overrides or {}).get((n, hour))))
        lines.append(_air_row(stamp, "9999X", 9, hour).replace("南宁市", "上海市"))
    return ("\n".join([*lines, *extra]) + "\n").encode()


MAINTENANCE = (1, 8)  # (day index, hour) of the reading water_payload(maintenance=True) publishes as 维护


def water_payload(name: str, days: list[date], shift: float = 0.0, maintenance: bool = False) -> bytes:
    """The per-section CSV export of the water feed: a reading every 4 hours, MM-DD HH:MM. With
    `maintenance`, the reading at MAINTENANCE is published during maintenance (维护: loaded, flagged
    suspect, left out of assessments) with a CODMn of 40 mg/L, worse than class Ⅴ."""
    lines = [WATER_HEADER]
    for d, day in enumerate(days):
        for k, hour in enumerate(range(0, 24, 4)):
            step = (d * 6 + k) % 5
            in_maintenance = maintenance and (d, hour) == MAINTENANCE
            codmn = 40.0 if in_maintenance else 2.1 + shift + step / 10
            lines.append(f"广西壮族自治区,珠江流域,{name},{day:%m-%d} {hour:02d}:00,Ⅱ,{22 + step / 2:.1f},"
                         f"{7.1 + step / 20:.2f},{6.5 + step / 10:.2f},{300 + step},{8 + step:.1f},"
                         f"{codmn:.2f},{0.21 + step / 100:.3f},{0.05 + step / 200:.3f},"
                         f"{1.1 + step / 10:.2f},*,*,{'维护' if in_maintenance else '正常'}")
    return ("\n".join(lines) + "\n").encode()


def write_archive(folder: Path) -> dict[str, list[Path]]:
    """The fixture archive: air hours over three days in four files, the third revising values of the
    second and carrying a bad cell and a repeated row, the fourth a value below the instrument's
    range; two sections' water exports; a lab results file."""
    folder.mkdir(parents=True, exist_ok=True)
    day1, day2, day3 = FIRST_DAY, FIRST_DAY + timedelta(days=1), FIRST_DAY + timedelta(days=2)
    stations = list(registry.air_stations().index[:STATIONS])
    repeated = _air_row(datetime.combine(day2, datetime.min.time()) + timedelta(hours=20), stations[1], 1, 20)
    air = {
        "air-1.csv": air_payload(day1, range(1, 25)),
        "air-2.csv": air_payload(day2, range(1, 25)),
        "air-3.csv": air_payload(day2, range(18, 25), {(0, 20): {"pm10": 99}, (0, 21): {"no2": 44},
                                                       (2, 22): {"so2": "abc"}}, extra=[repeated]),
        "air-4.csv": air_payload(day3, range(1, 11), {(3, 5): {"pm2_5": -999}}),
    }
    water = {"water-laokou.csv": water_payload("老口", [day1, day2, day3]),
             "water-hengtang.csv": water_payload("横塘", [day1, day2, day3], shift=4.0, maintenance=True)}
    paths = {"cnemc-air": [], "cnemc-water": []}
    for name, payload in {**air, **water}.items():
        (folder / name).write_bytes(payload)
        paths["cnemc-air" if name.startswith("air") else "cnemc-water"].append(folder / name)
    lab = folder / "lab" / "results.csv"
    paths = {source: sorted(files) for source, files in paths.items()}  # as a folder or a glob lists them
    lab.parent.mkdir(exist_ok=True)
    lab.write_text("sample_id,section_id,sampled_at,lab,parameter,result,unit,detection_limit,method\n"
                   f"S1,nanliu-yaqiao,{day2} 09:40,L,nh3n,0.4,mg/L,0.025,HJ 535\n"
                   f"S1,nanliu-yaqiao,{day2} 09:40,L,tp,0.08,mg/L,0.01,GB 11893\n"
                   f"S1,nanliu-yaqiao,{day2} 09:40,L,codmn,3.1,mg/L,0.5,GB 11892\n", encoding="utf-8")
    paths["lab"] = [lab]
    return paths


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouses(request, tmp_path):
    """A maker of empty warehouses of one kind, each with its own ENVMON_HOME."""
    with ExitStack() as stack:
        made = []

        def make() -> str:
            if request.param == "sqlite":
                url = f"sqlite:///{tmp_path / f'warehouse-{len(made)}.db'}"
            else:
                url = stack.enter_context(fresh_postgres_schema())
            made.append(url)
            return url

        yield make
        for url in made:
            db.engine_for(url).dispose()


def envmon(monkeypatch, capsys, tmp_path, url: str, *args: str) -> tuple[int, str, str]:
    """`envmon ARGS` in this process on the warehouse at `url` (its own ENVMON_HOME)."""
    home = tmp_path / f"home-{abs(hash(url)) % 10**8}"
    monkeypatch.setenv("ENVMON_HOME", str(home))
    monkeypatch.setenv("ENVMON_WAREHOUSE_URL", url)
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def ingest(monkeypatch, capsys, tmp_path, url, source, *what) -> tuple[int, dict, str]:
    code, out, err = envmon(monkeypatch, capsys, tmp_path, url, "ingest", "--source", source, *what,
                            "--fetched-at", FETCHED, "--json")
    return code, (json.loads(out) if out.strip() else {}), err


def holdings(url: str) -> dict[str, pd.DataFrame]:
    """Every table a payload writes, as analysts export it, less what a run stamps for itself
    (surrogate ids, times of writing, where its home is), in a stable order."""
    engine = db.engine_for(url)
    out = {}
    for name in ("observations", "assessments", "quarantine", "published", "history", "rollups", "payloads",
                 "assessment-history"):
        frame = exports.export_frame(engine, name)
        frame = frame.drop(columns=[c for c in ("quarantine_id", "history_id", "superseded_at", "received_at",
                                                "updated_at", "archive_path", "attempts") if c in frame])
        out[name] = frame.astype(str).sort_values(list(frame.columns)).reset_index(drop=True)
    for name in ("partition_log", "watermarks"):
        frame = db.read_table(engine, name).drop(columns=["loaded_at", "updated_at"], errors="ignore")
        out[name] = frame.astype(str).sort_values(list(frame.columns)).reset_index(drop=True)
    return out


def assert_same(held: dict, expected: dict) -> None:
    for name in expected:
        pd.testing.assert_frame_equal(held[name], expected[name], obj=name)


def one_by_one(monkeypatch, capsys, tmp_path, url, paths) -> list[dict]:
    summaries = []
    for source, files in paths.items():
        for path in files:
            code, summary, err = ingest(monkeypatch, capsys, tmp_path, url, source, "--file", str(path))
            assert code == 0, err
            summaries.append(summary)
    return summaries


def test_many_files_a_folder_and_a_glob_give_the_warehouse_of_one_by_one(warehouses, monkeypatch, capsys, tmp_path):
    paths = write_archive(tmp_path / "archive")
    alone = warehouses()
    one_by_one(monkeypatch, capsys, tmp_path, alone, paths)
    expected = holdings(alone)
    assert len(expected["history"]) == 2 and len(expected["quarantine"]) > 0  # the archive revises and quarantines

    folder, pattern, several = warehouses(), warehouses(), warehouses()
    lab_and_water = [("cnemc-water", ["--glob", str(tmp_path / "archive" / "water-*.csv")]),
                     ("lab", ["--dir", str(tmp_path / "archive" / "lab")])]
    runs = {folder: [("cnemc-air", ["--glob", str(tmp_path / "archive" / "air-*.csv")])],
            pattern: [("cnemc-air", ["--glob", str(tmp_path / "archive" / "air-*.csv"), "--batch-size", "300"])],
            several: [("cnemc-air", [arg for path in paths["cnemc-air"] for arg in ("--file", str(path))])]}
    for url, commands in runs.items():
        for source, what in commands + lab_and_water:
            code, summary, err = ingest(monkeypatch, capsys, tmp_path, url, source, *what)
            assert code == 0, err
            if source == "cnemc-air":
                assert summary["loaded"] == 4 and not summary["refused"], summary
        assert_same(holdings(url), expected)


def test_a_bad_payload_among_good_ones_is_refused_alone_with_its_reason(warehouses, monkeypatch, capsys, tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "a-good.csv").write_bytes(air_payload(FIRST_DAY, range(1, 13)))
    (folder / "b-maintenance.csv").write_text("<html><body>系统维护中</body></html>", encoding="utf-8")
    (folder / "c-empty.csv").write_bytes(b"")
    (folder / "d-good.csv").write_bytes(air_payload(FIRST_DAY, range(13, 25)))
    url = warehouses()
    code, summary, err = ingest(monkeypatch, capsys, tmp_path, url, "cnemc-air", "--dir", str(folder))
    assert code == 1
    refused = {Path(r["file"]).name: r["error"] for r in summary["refused"]}
    assert set(refused) == {"b-maintenance.csv", "c-empty.csv"}
    assert "returned HTML" in refused["b-maintenance.csv"] and "empty" in refused["c-empty.csv"]
    for name in refused:  # one line each on stderr, naming the file and the reason
        assert sum(name in line and "refused as a cnemc-air payload" in line for line in err.splitlines()) == 1
    assert summary["loaded"] == 2 and FIRST_DAY.isoformat() in summary["days"]
    log = db.read_table(db.engine_for(url), "payloads").set_index("origin")
    statuses = {Path(origin).name: (row["status"], row["retryable"]) for origin, row in log.iterrows()}
    assert statuses["a-good.csv"][0] == statuses["d-good.csv"][0] == "loaded"
    for name in refused:
        assert statuses[name][0] == "failed" and not statuses[name][1]
        assert refused[name] in log.loc[str(folder / name), "error"]
    observations = exports.observations(db.engine_for(url))
    assert len(observations) == 2 * 12 * STATIONS * 12  # both good payloads' every in-scope value


def test_counts_reconcile_for_every_payload(warehouses, monkeypatch, capsys, tmp_path):
    paths = write_archive(tmp_path / "archive")
    url = warehouses()
    code, summary, err = ingest(monkeypatch, capsys, tmp_path, url, "cnemc-air", "--dir", str(tmp_path / "archive"),
                                "--batch-size", "500")
    # the folder holds the water exports too: read as air payloads they are refused, alone
    assert code == 1 and {Path(r["file"]).name for r in summary["refused"]} == {"water-laokou.csv",
                                                                                 "water-hengtang.csv"}
    log = db.read_table(db.engine_for(url), "payloads").set_index("payload_id")
    held = db.read_table(db.engine_for(url), "quarantine")
    assert len(summary["summaries"]) == 4
    for each in summary["summaries"]:
        entry = each["sources"]["cnemc-air"]
        assert entry["read"] == entry["loaded"] + entry["quarantined"] + entry["out_of_scope"] and entry["reconciled"]
        row = log.loc[each["payload_id"]]
        assert (row["rows_read"], row["rows_loaded"], row["rows_quarantined"], row["rows_out_of_scope"]) == \
            (entry["read"], entry["loaded"], entry["quarantined"], entry["out_of_scope"])
    totals = summary["sources"]["cnemc-air"]
    assert totals["read"] == sum(s["sources"]["cnemc-air"]["read"] for s in summary["summaries"])
    # the bad cell, the twelve values of the repeated row, the value below the instrument's range
    assert totals["quarantined"] == len(held) == 1 + 12 + 1
    assert totals["revised"] == 2
    # air-3 sends hours of air-2 again (two of them revised): each key is stored once, its newest value
    again = next(s["sources"]["cnemc-air"] for s in summary["summaries"] if Path(s["file"]).name == "air-3.csv")
    assert again["revised"] == 2
    assert len(exports.observations(db.engine_for(url))) == totals["loaded"] - again["loaded"]


def test_reingesting_the_unchanged_archive_changes_nothing(warehouses, monkeypatch, capsys, tmp_path):
    paths = write_archive(tmp_path / "archive")
    url = warehouses()
    for source, what in (("cnemc-air", "air-*.csv"), ("cnemc-water", "water-*.csv")):
        code, _, err = ingest(monkeypatch, capsys, tmp_path, url, source, "--glob", str(tmp_path / "archive" / what))
        assert code == 0, err
    before = holdings(url)
    code, summary, err = ingest(monkeypatch, capsys, tmp_path, url, "cnemc-air", "--glob",
                                str(tmp_path / "archive" / "air-*.csv"))
    assert code == 0, err
    assert summary["loaded"] == 0 and len(summary["unchanged"]) == 4 and summary["days"] == []
    code, single, err = ingest(monkeypatch, capsys, tmp_path, url, "cnemc-water", "--file", str(paths["cnemc-water"][0]))
    assert code == 0 and single["unchanged"] is True and single["days"] == []
    assert set(single) >= {"sources", "payload_id", "sha256", "archive", "days", "quarantine_days"}
    assert_same(holdings(url), before)
    code, again, err = ingest(monkeypatch, capsys, tmp_path, url, "cnemc-air", "--glob",
                              str(tmp_path / "archive" / "air-*.csv"), "--again")
    # ingested again as new payloads, in order: air-2 puts back the two values air-3 revised, air-3
    # revises them again; the warehouse's values end as they were
    assert code == 0 and again["loaded"] == 4 and again["sources"]["cnemc-air"]["revised"] == 4
    after = holdings(url)
    assert len(after["history"]) == len(before["history"]) + 4
    for name in ("observations", "quarantine", "assessments", "rollups"):
        pd.testing.assert_frame_equal(after[name], before[name], obj=name)


def test_the_assessments_of_the_touched_days_are_those_of_the_day_by_day_path(warehouses, monkeypatch, capsys,
                                                                              tmp_path):
    from pipelines import nightly
    from pipelines.config import load_settings

    paths = write_archive(tmp_path / "archive")
    url = warehouses()
    for source, files in paths.items():
        code, summary, err = ingest(monkeypatch, capsys, tmp_path, url, source,
                                    *[arg for path in files for arg in ("--file", str(path))] if len(files) > 1
                                    else ("--file", str(files[0]), "--again"))
        assert code == 0, err
    archive_path = holdings(url)
    rollups = archive_path["rollups"]
    days = sorted({date.fromisoformat(d) for d in rollups[rollups["period"] == "day"]["period_start"]})
    assert FIRST_DAY in days and len(days) >= 3
    assessed = archive_path["assessments"]
    assert (assessed["domain"] == "air").any() and (assessed["domain"] == "surface_water").any()
    assert ((assessed["status"] == "assessed") & (assessed["domain"] == "surface_water")).sum() >= 6
    assert (assessed["period"] == "month").any()
    # the maintenance reading is stored, flagged, and kept out of its day's class (Ⅴ+ if it counted)
    stored = archive_path["observations"]
    maintenance = stored[(stored["parameter"] == "codmn") & (stored["value"].astype(float) == 40.0)]
    assert maintenance["qc_flag"].tolist() == ["suspect"]
    settings = load_settings({"ENVMON_HOME": str(tmp_path / "home"), "ENVMON_WAREHOUSE_URL": url})
    for day in days:  # the nightly step, one day at a time, over the same stored observations
        nightly.assess(day, settings)
    day_by_day = holdings(url)
    for name in ("assessments", "rollups", "assessment-history"):
        pd.testing.assert_frame_equal(archive_path[name], day_by_day[name], obj=name)


def test_the_progress_bar_counts_payloads_and_observations(warehouses, tmp_path):
    from pipelines.ingest.payloads import ingest_files
    from pipelines.config import load_settings

    paths = write_archive(tmp_path / "archive")
    url = warehouses()
    settings = load_settings({"ENVMON_HOME": str(tmp_path / "home"), "ENVMON_WAREHOUSE_URL": url})
    seen = []
    outcome = ingest_files("cnemc-air", paths["cnemc-air"], settings, batch_size=1,
                                     fetched_at=datetime.fromisoformat(FETCHED),
                                     progress=lambda o, n, size: seen.append((n, size, o.observations)))
    assert seen[-1][0] == 4 and seen[-1][1] == sum(p.stat().st_size for p in paths["cnemc-air"])
    assert seen[-1][2] == outcome.observations == sum(s["sources"]["cnemc-air"]["read"] for s in outcome.summaries)
    assert all(a[0] <= b[0] and a[2] <= b[2] for a, b in zip(seen, seen[1:]))
    assert not math.isnan(sum(outcome.clock.seconds.values()))
