"""A small warehouse for the dashboard app's tests, written in seconds: 75 days of rollups and
assessments for every registry section, coastal point and air station, made with the pipeline's own
rule functions (surface_water.classify, seawater.classify, air_quality.daily_aqi, rollups.monthly,
cross_boundary.month_to_date_rows) from values chosen here, and stored through warehouse/db.py as
the nightly run stores them. What the tests check is known in advance:

- 鼠岭(文车桥) (jiuzhou-wenchequiao, cross-boundary, Yulin → Zhanjiang, target Ⅲ) fails on the last
  ten days with ammonia at 1.62 mg/L (class Ⅴ);
- every other section meets its target; 东兴 (beilun-dongxing) is class Ⅱ throughout;
- one DO reading of −9999 at 鼠岭 is quarantined on END − 3;
- the last three days come from real feeds (cnemc-water, cnemc-air), the earlier ones from the simulator;
- the day after END holds only 'insufficient data' rows, written by the real nightly.assess of a day
  without observations: the blank-dashboard case of issue 12 (a quarantined row's fallback day).
"""
from __future__ import annotations

import json
import re
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone

from pathlib import Path

import pandas as pd
from sqlalchemy import insert

from pipelines import nightly
from pipelines.assessment import air_quality, cross_boundary, rollups, seawater, surface_water
from pipelines.config import load_settings
from pipelines.reference import registry
from warehouse import db, schema

END = date(2026, 11, 20)
DAYS = 75
FAILING = "jiuzhou-wenchequiao"
STEADY = "beilun-dongxing"
REAL_DAYS = 3
BLANK_DAY = END + timedelta(days=1)
WATER_PARAMETERS = ("nh3n", "tp", "codmn", "do")
# pH too: a month without a valid value of a required indicator (GB 3838's pH, DO, CODMn, NH3-N, TP) is
# 'indicators incomplete', never assessed (surface_water.with_required_status)
BASE = {"Ⅱ": {"nh3n": 0.32, "tp": 0.06, "codmn": 2.6, "do": 7.4, "ph": 7.4},
        "Ⅲ": {"nh3n": 0.62, "tp": 0.12, "codmn": 3.9, "do": 6.2, "ph": 7.4}}
SEA_BASE = {"一类": {"din": 0.15, "phosphate": 0.010, "cod": 1.5}, "二类": {"din": 0.25, "phosphate": 0.020, "cod": 2.5},
            "三类": {"din": 0.35, "phosphate": 0.028, "cod": 3.5}, "四类": {"din": 0.45, "phosphate": 0.040, "cod": 4.5}}


def days() -> list[date]:
    return [END - timedelta(days=n) for n in range(DAYS - 1, -1, -1)]


def _water_values(section_id: str, target: str, day: date, index: int) -> dict[str, float]:
    values = dict(BASE.get(target, BASE["Ⅲ"]))
    if registry.water_body_type(section_id) == "lake":  # GB 3838 limits lakes' and reservoirs' TP tighter
        values["tp"] = 0.02 if target == "Ⅱ" else 0.04
    wobble = 1 + 0.08 * ((index * 7 + len(section_id)) % 5 - 2) / 2
    values = {k: round(v * wobble, 4) if k != "do" else v for k, v in values.items()}
    if section_id == FAILING and day > END - timedelta(days=10):
        values["nh3n"] = 1.62
    if section_id == STEADY:
        values = dict(BASE["Ⅱ"])
    return values


def _rollup(station_id: str, parameter: str, day: date, value: float, period_kind="PT0S", count=6) -> dict:
    return {"station_id": station_id, "parameter": parameter, "averaging_period": period_kind, "period": "day",
            "period_start": day, "mean": value, "minimum": round(value * 0.9, 5), "maximum": round(value * 1.1, 5),
            "values_assessable": count, "values_flagged": 1 if (day.day % 9 == 0 and parameter == "nh3n") else 0,
            "values_censored": 0, "days_with_data": 1, "detection_limit": None, "reported_mean": f"{value:g}",
            "censoring_method": None}


def _row(station_id, day, domain, standard, verdict, target, grade, values_used, is_cross_boundary) -> dict:
    """An assessment row as the nightly step stores it (pipelines/assessment/daily.py)."""
    return {"station_id": station_id, "period": "day", "period_start": day, "domain": domain, "standard": standard,
            "water_class": verdict.water_class, "target_class": target, "is_compliant": verdict.is_compliant,
            "grade": grade, "indicators_assessed": ";".join(sorted(verdict.parameter_classes)),
            "failing_parameters": json.dumps([f.as_dict() if hasattr(f, "as_dict") else {"parameter": f}
                                              for f in verdict.failing], ensure_ascii=False),
            "values_used": values_used, "is_cross_boundary": bool(is_cross_boundary),
            "status": "assessed" if verdict.water_class else "insufficient data", "aqi": None,
            "primary_pollutants": None}


def _air_row(station_id: str, day: date, index: int) -> tuple[dict, dict[str, float]]:
    pm25 = 18 + (index * 13 + int(station_id[:4])) % 50  # some days over 75 µg/m³ (AQI > 100)
    values = {"pm2_5": float(pm25), "pm10": float(pm25 * 1.6), "no2": 22.0, "so2": 8.0, "co": 0.7, "o3_8h": 96.0}
    result = air_quality.daily_aqi(values)
    row = {"station_id": station_id, "period": "day", "period_start": day, "domain": "air",
           "standard": "HJ 633-2012", "water_class": None, "target_class": None,
           "is_compliant": result.aqi <= 100, "grade": result.category,
           "indicators_assessed": ";".join(sorted(result.sub_indices)),
           "failing_parameters": json.dumps([{"parameter": p, "iaqi": result.sub_indices[p]}
                                             for p in result.exceeding_pollutants]),
           "values_used": 144, "is_cross_boundary": False, "status": "assessed", "aqi": result.aqi,
           "primary_pollutants": ";".join(result.primary_pollutants)}
    return row, values


def build(url: str, home) -> dict:
    """Write the warehouse at `url`; returns the facts the tests check against."""
    settings = load_settings({"ENVMON_HOME": str(home), "ENVMON_WAREHOUSE_URL": url})
    nightly.prepare_warehouse(settings)
    engine = db.engine_for(url)
    sections = registry.water_sections()
    points = registry.sea_points()
    stations = registry.air_stations()
    month_rollups: dict[date, list[dict]] = {}
    for index, day in enumerate(days()):
        water_rows, sea_rows, air_rows, rollup_rows = [], [], [], []
        for section_id, section in sections.iterrows():
            values = _water_values(section_id, section["target_class"], day, index)
            verdict = surface_water.classify(values, registry.water_body_type(section_id), section["target_class"])
            water_rows.append(_row(section_id, day, "surface_water", "GB 3838-2002", verdict, section["target_class"],
                                   verdict.grade, 24, section["is_cross_boundary"]))
            rollup_rows += [_rollup(section_id, code, day, value) for code, value in values.items()]
        for point_id, point in points.iterrows():
            values = SEA_BASE.get(point["target_class"], SEA_BASE["二类"])
            verdict = seawater.classify(values, point["target_class"])
            sea_rows.append(_row(point_id, day, "seawater", "GB 3097-1997", verdict, point["target_class"], None, 3,
                                 False))
            rollup_rows += [_rollup(point_id, code, day, value, count=1) for code, value in values.items()]
        for station_id in stations.index:
            row, values = _air_row(station_id, day, index)
            air_rows.append(row)
            rollup_rows += [_rollup(station_id, code, day, value, "PT1H", 24) for code, value in values.items()
                            if code != "o3_8h"]
        db.replace_assessments(engine, "surface_water", day, water_rows)
        db.replace_assessments(engine, "seawater", day, sea_rows)
        db.replace_assessments(engine, "air", day, air_rows)
        db.replace_rollups(engine, "day", day, pd.DataFrame(rollup_rows))
        month_rollups.setdefault(day.replace(day=1), []).extend(r for r in rollup_rows if r["averaging_period"] == "PT0S")
    for month_start, rows in month_rollups.items():
        monthly = rollups.monthly(pd.DataFrame(rows), month_start)
        db.replace_rollups(engine, "month", month_start, monthly)
        db.replace_assessments(engine, "surface_water", month_start,
                               cross_boundary.month_to_date_rows(monthly, month_start), period="month")
    _ingest_log(engine)
    _alerts(engine)
    # the blank-dashboard case: a day without observations assessed by the real nightly step
    nightly.assess(BLANK_DAY, settings)
    return {"end": END, "blank_day": BLANK_DAY, "failing": FAILING, "steady": STEADY,
            "first": days()[0], "real_from": END - timedelta(days=REAL_DAYS - 1)}


def _ingest_log(engine) -> None:
    loaded_at = datetime(2026, 11, 21, 2, 30, tzinfo=timezone.utc)
    log, quarantine = [], []
    for day in days() + [BLANK_DAY]:
        real = day > END - timedelta(days=REAL_DAYS) and day <= END
        sources = (("cnemc-water", "water"), ("cnemc-air", "air")) if real else (
            ("simulated-water", "water"), ("simulated-air", "air"), ("simulated-coastal", "coastal"))
        if day == BLANK_DAY:  # the lab payload whose only row was quarantined for its time
            sources = (("lab", "water"),)
        for source, domain in sources:
            quarantined = 1 if (source == "simulated-water" and day == END - timedelta(days=3)) or source == "lab" else 0
            loaded = 0 if source == "lab" else 1200
            log.append({"source": source, "partition_day": day, "domain": domain, "batch_id": f"{source}/{day}",
                        "rows_read": loaded + quarantined, "rows_loaded": loaded, "rows_quarantined": quarantined,
                        "suite_name": f"envmon_{domain}_observations", "loaded_at": loaded_at})
    quarantine.append({"source": "cnemc-water", "partition_day": END - timedelta(days=1), "batch_id": "cnemc-water/dup",
                       "station_id": FAILING, "parameter": "do",
                       "observed_at": datetime.combine(END - timedelta(days=1), datetime.min.time(), timezone.utc),
                       "averaging_period": "PT0S", "value": -9999.0, "unit": "mg/L", "qc_flag": "good",
                       "original_value": "-9999", "expectation": "expect_column_values_to_be_between",
                       "reason": "expect_column_values_to_be_between"})
    quarantine.append({"source": "lab", "partition_day": BLANK_DAY, "batch_id": "lab/blank", "station_id": "nanliu-yaqiao",
                       "parameter": "nh3n", "observed_at": None, "averaging_period": "PT0S", "value": 0.4,
                       "unit": "mg/L", "qc_flag": "good", "original_value": "0.4", "expectation": "unreadable_time",
                       "reason": "the sampling time '25:61' could not be read"})
    with engine.begin() as connection:
        connection.execute(insert(schema.partition_log), log)
        connection.execute(insert(schema.quarantine), quarantine)


def _alerts(engine) -> None:
    now = datetime(2026, 11, 21, 2, 40, tzinfo=timezone.utc)
    rows = [{"alert_key": f"{FAILING}/day/{END - timedelta(days=n)}", "station_id": FAILING, "period": "day",
             "period_start": END - timedelta(days=n), "raised_at": now, "recipients": "duty-yulin@bureaus.envmon.example",
             "subject": f"鼠岭(文车桥) 未达标 {END - timedelta(days=n)}", "body": "nh3n", "delivery_status": "sent",
             "delivery_detail": None, "sent_at": now, "attempts": 1} for n in range(3)]
    with engine.begin() as connection:
        connection.execute(insert(schema.alerts), rows)


def login_form(page_html: str) -> dict:
    """The login form's hidden fields (its CSRF token), as a browser sends them back."""
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page_html))


def sign_in(client, name: str, password: str, path: str = "/login"):
    """Flask's test `client` signs in as a browser does: the login form's token sent back with the
    name and password (to `path`), and afterwards, as Dash's renderer does, the token cookie the app
    hands it (dashboards/app/security.py) sent as X-CSRFToken with every request. The login's answer."""
    form = login_form(client.get("/login").get_data(as_text=True))
    answer = client.post(path, data={**form, "username": name, "password": password})
    token = client.get_cookie("_csrf_token")
    if token is not None:
        client.environ_base["HTTP_X_CSRFTOKEN"] = token.value
    return answer


@contextmanager
def running_dashboard(home: Path, url: str, users_path: Path, secret: str):
    """`envmon dashboard` as a bureau runs it, in a process of its own on a free port, on the
    warehouse at `url` (no read-only URL: the same one); yields its base URL once /healthz answers,
    and stops it afterwards."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from urllib.request import urlopen

    from tests.conftest import free_port

    port = free_port()
    environment = {**os.environ, "ENVMON_HOME": str(home), "ENVMON_WAREHOUSE_URL": url,
                   "ENVMON_DASHBOARD_USERS": str(users_path), "ENVMON_DASHBOARD_SECRET_KEY": secret}
    environment.pop("ENVMON_DASHBOARD_WAREHOUSE_URL", None)
    envmon = Path(sys.executable).with_name("envmon")
    process = subprocess.Popen([str(envmon), "dashboard", "--host", "127.0.0.1", "--port", str(port)],
                               env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                with urlopen(f"{base}/healthz", timeout=2):
                    break
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError(f"envmon dashboard exited: {process.stdout.read()}")
                time.sleep(0.5)
        else:
            raise RuntimeError("envmon dashboard did not answer within 120 s")
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
