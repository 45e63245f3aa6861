"""Issue 21, "feed formats as data": every feed's header is checked against its layout
(pipelines/reference/data/feed_formats.csv). In each format a renamed, missing or extra column and
a changed unit are refused or quarantined with the difference named, the counts still reconcile,
and a change is told to the operators once."""
import io
import json
import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest

from pipelines.config import load_settings
from pipelines.observations import BUREAU_TZ
from pipelines.reference import feed_formats
from pipelines.sources import files
from tests.conftest import FIXTURES
from warehouse import alert_store, db

ENVMON = str(Path(sys.executable).parent / "envmon")
FETCHED = datetime(2027, 1, 1, 2, 0, tzinfo=BUREAU_TZ)
WATER_JSON = json.loads((FIXTURES / "cnemc-water-publish.json").read_text(encoding="utf-8"))
AIR_CSV = (FIXTURES / "cnemc-air-hourly.csv").read_text(encoding="utf-8")
TEMPLATES = Path(files.__file__).parents[1] / "templates"
LAB = (TEMPLATES / "lab-results-example.csv").read_text(encoding="utf-8")
COASTAL = (TEMPLATES / "coastal-survey-example.csv").read_text(encoding="utf-8")
TP_JSON = "总磷<br/><span class='unit'>(mg/L)</span>"
NH3N_JSON = "氨氮<br/><span class='unit'>(mg/L)</span>"


def kinds(parsed_or_error) -> set[tuple[str, str]]:
    return {(c["kind"], c["column"]) for c in parsed_or_error.format_changes}


def water_json(thead) -> bytes:
    return json.dumps({**WATER_JSON, "thead": thead}, ensure_ascii=False).encode()


def renamed(header: list[str], old: str, new: str) -> list[str]:
    assert old in header
    return [new if h == old else h for h in header]


@pytest.mark.real_data
def test_every_real_sample_matches_its_layout():
    from tests.conftest import FORMATS, real_data

    real_data("cnemc-air/national-hourly-2026-03-15T12.csv")  # skips, with the reason, where ../shared is absent
    shared = FORMATS
    samples = [("cnemc-water", shared / "cnemc-water" / "publish-ashx-2020-05-08.json", datetime(2020, 5, 8, 18)),
               ("cnemc-water", shared / "cnemc-water" / "publish-ashx-2021-04-05.json", datetime(2021, 4, 5, 18)),
               ("cnemc-water", shared / "cnemc-water" / "by-name-csv-2021-04" / "横塘.csv", datetime(2021, 4, 5, 23)),
               ("cnemc-air", shared / "cnemc-air" / "beibu6-snapshot-2017-07-07T16.geojson", datetime(2017, 7, 7, 18)),
               ("lab", TEMPLATES / "lab-results-example.csv", FETCHED),
               ("coastal", TEMPLATES / "coastal-survey-example.csv", FETCHED)]
    for source, path, fetched in samples:
        parsed = files.parse_file(source, path, fetched.replace(tzinfo=BUREAU_TZ))
        assert parsed.format_changes == [] and parsed.reconciled, path.name


# --- the CNEMC water JSON (Publish.ashx) -------------------------------------------------------

def test_water_json_renamed_nh3n_and_tp_are_named_and_their_values_quarantined_not_dropped():
    """Today's incident: 氨氮 and 总磷 renamed in the header. Before, they vanished silently."""
    good = files.parse_payload("cnemc-water", water_json(WATER_JSON["thead"]), "p.json", FETCHED)
    thead = renamed(renamed(WATER_JSON["thead"], NH3N_JSON, "氨氮(mg/L)"), TP_JSON, "总磷 TP")
    parsed = files.parse_payload("cnemc-water", water_json(thead), "p.json", FETCHED)
    assert kinds(parsed) == {("unknown", "氨氮(mg/L)"), ("unknown", "总磷 TP"), ("missing", NH3N_JSON),
                             ("missing", TP_JSON)}
    assert parsed.read == good.read and parsed.reconciled      # 55 stays 55: nothing lost
    assert not set(parsed.observations["parameter"]) & {"nh3n", "tp"}
    held = parsed.rejected[parsed.rejected["rule"] == "format_changed"]
    assert len(held) == 2 * (len(good.observations) // good.observations["parameter"].nunique())
    assert "总磷 TP" in held["reason"].iloc[-1]
    assert any("format changed" in w and "总磷 TP" in w for w in parsed.warnings)


def test_water_json_extra_column_is_named_and_its_values_quarantined():
    thead = WATER_JSON["thead"][:-1] + ["高锰酸盐指数(新)"] + WATER_JSON["thead"][-1:]
    body = [row[:-1] + ["1.0"] + row[-1:] if isinstance(row, list) else row for row in WATER_JSON["tbody"]]
    payload = json.dumps({**WATER_JSON, "thead": thead, "tbody": body}, ensure_ascii=False).encode()
    parsed = files.parse_payload("cnemc-water", payload, "p.json", FETCHED)
    assert kinds(parsed) == {("unknown", "高锰酸盐指数(新)")}
    assert parsed.reconciled and (parsed.rejected["rule"] == "format_changed").sum() > 0
    assert set(parsed.observations["parameter"]) >= {"codmn", "nh3n", "tp"}


def test_water_json_changed_unit_is_quarantined_not_read_as_mg_per_litre():
    thead = renamed(WATER_JSON["thead"], TP_JSON, "总磷<br/><span class='unit'>(µg/L)</span>")
    parsed = files.parse_payload("cnemc-water", water_json(thead), "p.json", FETCHED)
    [change] = parsed.format_changes
    assert (change["kind"], change["parameter"], change["unit"], change["expected_unit"]) == \
        ("unit_changed", "tp", "µg/L", "mg/L")
    assert "tp" not in set(parsed.observations["parameter"])
    held = parsed.rejected[parsed.rejected["rule"] == "format_changed"]
    assert set(held["parameter"]) == {"tp"} and parsed.reconciled


def test_water_json_missing_key_column_is_refused_with_the_difference_named():
    thead = renamed(WATER_JSON["thead"], "断面名称", "断面")
    with pytest.raises(files.PayloadError) as refused:
        files.parse_payload("cnemc-water", water_json(thead), "p.json", FETCHED)
    assert "missing column '断面名称'" in str(refused.value) and "unknown column '断面'" in str(refused.value)
    assert kinds(refused.value) == {("missing", "断面名称"), ("unknown", "断面")}


def test_water_json_missing_value_column_is_said_its_values_cannot_be_read():
    keep = [i for i, h in enumerate(WATER_JSON["thead"]) if h != TP_JSON]
    body = [[row[i] for i in keep] if isinstance(row, list) else row for row in WATER_JSON["tbody"]]
    payload = json.dumps({**WATER_JSON, "thead": [WATER_JSON["thead"][i] for i in keep], "tbody": body},
                         ensure_ascii=False).encode()
    parsed = files.parse_payload("cnemc-water", payload, "p.json", FETCHED)
    assert kinds(parsed) == {("missing", TP_JSON)}
    assert "its values cannot be read" in parsed.format_changes[0]["said"]
    assert parsed.reconciled


# --- the CNEMC water per-section CSV -----------------------------------------------------------

CSV_HEADER = ("省份,流域,断面名称,监测时间,水质类别,水温(℃),pH(无量纲),溶解氧(mg/L),电导率(μS/cm),浊度(NTU),"
              "高锰酸盐指数(mg/L),氨氮(mg/L),总磷(mg/L),总氮(mg/L),叶绿素α(mg/L),藻密度(cells/L),站点情况")


def section_csv(days, tp_header="总磷(mg/L)", extra_header="", tp=0.50) -> str:
    """横塘 (nanliu-hengtang), six readings a day, every indicator class Ⅱ but TP (劣Ⅴ at 0.50)."""
    lines = [CSV_HEADER.replace("总磷(mg/L)", tp_header) + (f",{extra_header}" if extra_header else "")]
    for day in days:
        for i, hour in enumerate((2, 6, 10, 14, 18, 22)):
            lines.append(f"广西壮族自治区,珠江流域,横塘,{day:%m-%d} {hour:02d}:00,劣Ⅴ,24.{i},7.3{i},6.5{i},508.{i},6.{i},"
                         f"3.3{i},0.3{i},{tp + i / 100:.2f},3.4{i},*,*,正常" + (",x" if extra_header else ""))
    return "\n".join(lines) + "\n"


def test_water_csv_renamed_missing_extra_and_unit_changed_columns():
    days = [date(2026, 12, 20)]
    good = files.parse_payload("cnemc-water", section_csv(days).encode(), "横塘.csv", FETCHED)
    assert good.format_changes == [] and len(good.observations) == good.read
    renamed_tp = files.parse_payload("cnemc-water", section_csv(days, "总磷 TP").encode(), "横塘.csv", FETCHED)
    assert kinds(renamed_tp) == {("unknown", "总磷 TP"), ("missing", "总磷(mg/L)")}
    unit = files.parse_payload("cnemc-water", section_csv(days, "总磷(µg/L)").encode(), "横塘.csv", FETCHED)
    assert kinds(unit) == {("unit_changed", "总磷(µg/L)")}      # read before as mg/L: 1000 times too much
    extra = files.parse_payload("cnemc-water", section_csv(days, extra_header="备注").encode(), "横塘.csv", FETCHED)
    assert kinds(extra) == {("unknown", "备注")}
    for parsed in (renamed_tp, unit, extra):
        assert parsed.reconciled and parsed.read == good.read + (6 if parsed is extra else 0)
        assert "tp" not in set(parsed.observations["parameter"]) or parsed is extra
    without_name = section_csv(days).replace("断面名称,", "").replace("横塘,", "")
    with pytest.raises(files.PayloadError) as refused:
        files.parse_payload("cnemc-water", without_name.encode(), "横塘.csv", FETCHED)
    assert "differs from its section-csv layout" in str(refused.value)
    assert kinds(refused.value) == {("missing", "断面名称")}


# --- the CNEMC air hourly CSV and GeoJSON ------------------------------------------------------

def air_csv(rename: dict | None = None, extra: str = "") -> bytes:
    header, *rows = AIR_CSV.splitlines()
    columns = [(rename or {}).get(c, c) for c in header.split(",")]
    if extra:
        columns.append(extra)
        rows = [r + ",1" for r in rows]
    return ("\n".join([",".join(columns), *rows]) + "\n").encode()


def test_air_csv_renamed_missing_extra_and_unit_changed_columns():
    good = files.parse_payload("cnemc-air", air_csv(), "a.csv", FETCHED)
    assert good.format_changes == []
    renamed_pm = files.parse_payload("cnemc-air", air_csv({"pm2_5": "pm25"}), "a.csv", FETCHED)
    assert kinds(renamed_pm) == {("unknown", "pm25"), ("missing", "pm2_5")}
    assert renamed_pm.reconciled and renamed_pm.read == good.read
    unit = files.parse_payload("cnemc-air", air_csv({"co": "co(μg/m³)"}), "a.csv", FETCHED)
    assert kinds(unit) == {("unit_changed", "co(μg/m³)")}
    held = unit.rejected[unit.rejected["rule"] == "format_changed"]
    assert len(held) and set(held["parameter"]) == {"co"} and set(held["averaging_period"]) == {"PT1H"}
    extra = files.parse_payload("cnemc-air", air_csv(extra="pm1"), "a.csv", FETCHED)
    assert kinds(extra) == {("unknown", "pm1")} and extra.reconciled and extra.read > good.read
    with pytest.raises(files.PayloadError) as refused:
        files.parse_payload("cnemc-air", air_csv({"stationcode": "station_code"}), "a.csv", FETCHED)
    assert kinds(refused.value) == {("missing", "stationcode"), ("unknown", "station_code")}


def test_air_geojson_renamed_missing_extra_and_unit_changed_properties():
    def geojson(change) -> bytes:
        frame = pd.read_csv(io.StringIO(AIR_CSV), dtype=str, keep_default_na=False)
        features = []
        for record in frame.to_dict("records"):
            record["timepoint"] = datetime.strptime(record["timepoint"], "%Y-%m-%dT%H%M").strftime("%Y-%m-%dT%H:%M:%S")
            features.append({"type": "Feature", "properties": change(record), "geometry": None})
        return json.dumps({"type": "FeatureCollection", "features": features}).encode()

    def layout_only(record):   # the 2017 properties the CSV also has
        return {k: v for k, v in record.items() if k in set(feed_formats.layout("cnemc-air", "hourly-geojson")["column"])}

    good = files.parse_payload("cnemc-air", geojson(layout_only), "a.geojson", FETCHED)
    missing_2017 = {c for k, c in kinds(good) if k == "missing"}
    assert {k for k, _ in kinds(good)} <= {"missing"} and not missing_2017 & {"pm2_5", "so2", "timepoint"}
    renamed_pm = files.parse_payload("cnemc-air", geojson(lambda r: {("pm25" if k == "pm2_5" else k): v
                                                                    for k, v in layout_only(r).items()}),
                                     "a.geojson", FETCHED)
    assert {("unknown", "pm25"), ("missing", "pm2_5")} <= kinds(renamed_pm) and renamed_pm.reconciled
    unit = files.parse_payload("cnemc-air", geojson(lambda r: {("so2(mg/m³)" if k == "so2" else k): v
                                                              for k, v in layout_only(r).items()}),
                               "a.geojson", FETCHED)
    assert ("unit_changed", "so2(mg/m³)") in kinds(unit)
    extra = files.parse_payload("cnemc-air", geojson(lambda r: {**layout_only(r), "pm1": "3"}), "a.geojson", FETCHED)
    assert ("unknown", "pm1") in kinds(extra) and extra.reconciled


# --- the lab and coastal templates (CSV and XLSX) ------------------------------------------------

def as_xlsx(text: str) -> bytes:
    buffer = io.BytesIO()
    pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False).to_excel(buffer, index=False)
    return buffer.getvalue()


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
@pytest.mark.parametrize("source, text, station", [("lab", LAB, "section_id"), ("coastal", COASTAL, "point_id")])
def test_sampling_files_renamed_missing_extra_columns_and_a_changed_unit(source, text, station, suffix):
    def payload(body: str) -> bytes:
        return as_xlsx(body) if suffix == ".xlsx" else body.encode()

    header, rest = text.split("\n", 1)
    good = files.parse_payload(source, payload(text), f"f{suffix}", FETCHED)
    assert good.format_changes == []
    with pytest.raises(files.PayloadError) as refused:           # renamed key column: refused, both named
        files.parse_payload(source, payload(header.replace("result", "value") + "\n" + rest), f"f{suffix}", FETCHED)
    assert kinds(refused.value) == {("missing", "result"), ("unknown", "value")}
    with pytest.raises(files.PayloadError) as refused:           # missing key column
        columns = header.split(",")
        at = columns.index(station)
        body = "\n".join(",".join(f for i, f in enumerate(line.split(",")) if i != at) for line in text.splitlines())
        files.parse_payload(source, payload(body + "\n"), f"f{suffix}", FETCHED)
    assert ("missing", station) in kinds(refused.value)
    extra = files.parse_payload(source, payload(header + ",remark\n" + rest.replace("\n", ",checked\n")), f"f{suffix}",
                                FETCHED)
    assert kinds(extra) == {("unknown", "remark")} and extra.reconciled
    assert all("checked" in d for d in extra.observations["detail"])   # kept, not lost
    fields = rest.split("\n", 1)[0].split(",")                   # the unit is each row's own: a changed
    fields[header.split(",").index("unit")] = "mmol/L"           # one is quarantined with that row
    changed = ",".join(fields)
    unit = files.parse_payload(source, payload(header + "\n" + changed + "\n"), f"f{suffix}", FETCHED)
    assert len(unit.observations) == 0 and "unknown unit 'mmol/L'" in unit.rejected["reason"].iloc[0]


# --- one notice per change, and the whole path through `envmon ingest` ----------------------------

def _envmon(home, *args):
    env = {**os.environ, "ENVMON_HOME": str(home)}
    env.pop("ENVMON_WAREHOUSE_URL", None)
    return subprocess.run([ENVMON, *args], capture_output=True, text=True, env=env, timeout=600)


def test_a_failing_section_whose_tp_column_was_renamed_is_never_compliant_and_keeps_its_episode(tmp_path):
    """横塘 fails on TP (劣Ⅴ) on 12-20 and 12-21; from 12-22 the feed prints 总磷 as `总磷 TP`. The
    six days after read class Ⅱ on what is left: before issue 21 they were compliant and the
    episode was resolved after three of them. Now: quarantined, 'indicators incomplete', open."""
    def ingest(name: str, text: str) -> dict:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        result = _envmon(tmp_path, "ingest", "--source", "cnemc-water", "--file", str(path),
                         "--fetched-at", "2026-12-31T02:00:00+08:00", "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    failing = [date(2026, 12, 20), date(2026, 12, 21)]
    after = [date(2026, 12, d) for d in range(22, 28)]
    first = ingest("横塘-1.csv", section_csv(failing))
    assert first["format_changes"] == []
    second = ingest("横塘-2.csv", section_csv(after, "总磷 TP", tp=0.05))    # TP compliant, but unread
    assert {(c["kind"], c["column"]) for c in second["format_changes"]} == {("unknown", "总磷 TP"),
                                                                            ("missing", "总磷(mg/L)")}
    entry = second["sources"]["cnemc-water"]
    assert entry["reconciled"] and entry["read"] == 6 * len(after) * 11 and entry["quarantined"] >= 6 * len(after)
    third = ingest("横塘-3.csv", section_csv([date(2026, 12, 28)], "总磷 TP", tp=0.05))   # the same change again
    assert third["format_changes"] == second["format_changes"]

    settings = load_settings({"ENVMON_HOME": str(tmp_path)})
    engine = db.engine_for(settings.warehouse_url)
    with engine.connect() as connection:
        days = {r["period_start"]: r for r in alert_store.section_assessments(connection, ["nanliu-hengtang"], None)}
    assert all(days[d]["status"] == "assessed" and days[d]["is_compliant"] is False for d in failing)
    assert all(days[d]["status"] == "indicators incomplete" and days[d]["is_compliant"] is not True for d in after)
    [episode] = alert_store.list_episodes(engine, section_id="nanliu-hengtang")
    assert episode["status"] == "open" and episode["resolved_on"] is None
    told = alert_store.notices_since(engine, datetime(2000, 1, 1, tzinfo=BUREAU_TZ))
    assert not [n for n in told if n["kind"] == "resolved"]
    [changed] = [n for n in told if n["kind"] == "format_changed"]   # one notice, three payloads
    from pipelines.alerts import messages

    for language in ("zh", "en"):
        text = messages.render(json.loads(changed["facts"]), language).text
        assert "unknown column '总磷 TP'" in text and "missing column '总磷(mg/L)' (tp)" in text


def test_a_format_change_is_told_once_and_another_change_again(tmp_path):
    from pipelines.alerts import operational

    settings = load_settings({"ENVMON_HOME": str(tmp_path)})
    engine = db.engine_for(settings.warehouse_url)
    db.migrate(engine)
    thead = renamed(WATER_JSON["thead"], TP_JSON, "总磷 TP")
    first = files.parse_payload("cnemc-water", water_json(thead), "p.json", FETCHED).format_changes
    again = files.parse_payload("cnemc-water", water_json(thead), "q.json", FETCHED).format_changes
    other = files.parse_payload("cnemc-water", water_json(renamed(thead, NH3N_JSON, "氨氮 NH3")), "r.json",
                                FETCHED).format_changes
    assert operational.tell_format_changes("cnemc-water", first, settings) is not None
    assert operational.tell_format_changes("cnemc-water", again, settings) is None     # the same change
    assert operational.tell_format_changes("cnemc-water", other, settings) is not None  # a further one
    assert operational.tell_format_changes("cnemc-water", [], settings) is None
    kinds_told = [n["kind"] for n in alert_store.notices_since(engine, datetime(2000, 1, 1, tzinfo=BUREAU_TZ))]
    assert kinds_told.count("format_changed") == 2
