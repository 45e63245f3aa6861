"""File ingestion of the two real CNEMC formats into canonical observations.

cnemc-water: the surface-water real-time system's Ajax/Publish.ashx JSON ({"thead", "tbody"}).
cnemc-air:   the hourly air CSV (timepoint, stationcode, ..., pm2_5, pm2_5_24h, ...).
Rows of stations outside the registry are counted as out of scope, not errors.
"""
from __future__ import annotations

import html
import json
import re
from io import StringIO
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from pipelines.reference import registry, standards
from pipelines.observations import BEIJING_OFFSET_MINUTES, BUREAU_TZ, batch_id, conform

WATER_HEADER_CODES = {
    "水温": "water_temp", "pH": "ph", "溶解氧": "do", "电导率": "conductivity", "浊度": "turbidity",
    "高锰酸盐指数": "codmn", "氨氮": "nh3n", "总磷": "tp", "总氮": "tn", "叶绿素α": "chla", "藻密度": "algae_density",
}
NOT_MONITORED = "*"
NO_VALUE = "--"
SPAN = re.compile(r"<span[^>]*?title='(?P<title>[^']*)'[^>]*>(?P<text>.*?)</span>", re.S)
RAW_VALUE = re.compile(r"原始值：(?P<raw>[-+0-9.eE]+)")
TOOLTIP_CITY = re.compile(r"所在地市:(?P<city>[^\n&]+)")
AIR_COLUMNS = {  # column → (parameter, averaging period); the feed's AQI goes to published results
    "pm10": ("pm10", "PT1H"), "pm10_24h": ("pm10", "PT24H"),
    "pm2_5": ("pm2_5", "PT1H"), "pm2_5_24h": ("pm2_5", "PT24H"),
    "o3": ("o3", "PT1H"), "o3_8h": ("o3", "PT8H"),
    "no2": ("no2", "PT1H"), "no2_24h": ("no2", "PT24H"),
    "so2": ("so2", "PT1H"), "so2_24h": ("so2", "PT24H"),
    "co": ("co", "PT1H"), "co_24h": ("co", "PT24H"),
}
AIR_MISSING = {"", "NA", "—", "-"}


class PayloadError(ValueError):
    """The payload is not in the format its source publishes."""


@dataclass
class Parsed:
    observations: pd.DataFrame
    out_of_scope: int  # observations of stations outside the registry (not errors)
    source: str
    published: pd.DataFrame | None = None  # what the publisher reported beside the values


def _cell(cell) -> tuple[str, str]:
    """(displayed text, tooltip) of a table cell."""
    if cell is None:
        return "", ""
    match = SPAN.fullmatch(str(cell).strip())
    if match:
        return html.unescape(match["text"]).strip(), html.unescape(match["title"])
    return str(cell).strip(), ""


def _infer_year(month_day: str, fetched_at: datetime) -> datetime:
    """监测时间 is printed MM-DD HH:MM, Beijing time, no year: take the year that puts the reading
    at or before the fetch (a December reading fetched in January is last year's)."""
    local_fetch = fetched_at.astimezone(BUREAU_TZ)
    when = datetime.strptime(f"{local_fetch.year}-{month_day}", "%Y-%m-%d %H:%M").replace(tzinfo=BUREAU_TZ)
    if when > local_fetch + pd.Timedelta(days=1):
        when = when.replace(year=when.year - 1)
    return when


def _water_table(payload: bytes | str) -> tuple[list[str], list[list]]:
    """(column names, rows) of either form the water feed takes: the Publish.ashx JSON, or the
    per-section CSV export of its displayed values (header 省份,流域,断面名称,监测时间,...)."""
    text = payload.decode("utf-8-sig") if isinstance(payload, bytes) else payload.lstrip("\ufeff")
    if text.lstrip().startswith("省份,"):
        import csv

        reader = csv.reader(StringIO(text))
        header = next(reader)
        names = [re.sub(r"\(.*\)$", "", h) for h in header]
        return names, [[None if c == "*" and names[i] == "监测时间" else c for i, c in enumerate(row)]
                       for row in reader if row]
    try:
        document = json.loads(text)
        header, body = document["thead"], document["tbody"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise PayloadError(f"not a Publish.ashx response, or a truncated one ({type(error).__name__}: {error})") from error
    return [re.sub(r"<br/>.*", "", h) for h in header], body


def parse_cnemc_water(payload: bytes | str, fetched_at: datetime) -> Parsed:
    try:
        names, body = _water_table(payload)
    except UnicodeDecodeError as error:
        raise PayloadError(f"not UTF-8 text: {error}") from error
    columns = {name: i for i, name in enumerate(names)}
    for required in ("省份", "断面名称", "监测时间", "站点情况"):
        if required not in columns:
            raise PayloadError(f"the water payload's header lacks {required!r}: {names}")
    feed_sections = registry.cnemc_water_sections()
    by_name = {(row["province"], row["basin"], row["name_zh"]): sid for sid, row in feed_sections.iterrows()}
    basin_column = columns.get("流域")
    rows, published, out_of_scope = [], [], 0
    for record in body:
        name, tooltip = _cell(record[columns["断面名称"]])
        basin = record[basin_column] if basin_column is not None else ""
        section_id = by_name.get((record[columns["省份"]], basin, name))
        city = TOOLTIP_CITY.search(tooltip)
        if section_id is not None and city and city["city"] != feed_sections.loc[section_id, "city"]:
            section_id = None  # same name, another place: names are not unique nationally
        time_text = record[columns["监测时间"]]
        if not time_text:
            continue  # the station published no reading (null time): nothing to store
        when = _infer_year(time_text, fetched_at)
        status = str(record[columns["站点情况"]] or "")
        cells = _water_cells(record, columns, section_id, when, status)
        if section_id is None:
            out_of_scope += len(cells)
            continue
        rows += cells
        reported_class = str(record[columns["水质类别"]] or "") if "水质类别" in columns else ""
        reported_class = "" if reported_class == NOT_MONITORED else reported_class
        published.append({"source": "cnemc-water", "station_id": section_id, "observed_at": when,
                          "published_class": reported_class or None, "published_aqi": None,
                          "published_primary_pollutants": None, "published_name": name, "station_status": status})
    return Parsed(_finish(rows, "cnemc-water", fetched_at), out_of_scope, "cnemc-water", _published(published))


def _marker_flags() -> dict[str, str]:
    """The feed's own markers mapped onto envmon's QC vocabulary (pipelines/reference/data/qc_source_markers.csv)."""
    from pipelines.quality import qc

    table = qc.source_markers()
    table = table[table["source"] == "cnemc-water"]
    return dict(zip(table["marker"], table["qc_flag"]))


def _water_cells(record, columns, section_id, when, status) -> list[dict]:
    from pipelines.quality.qc import worst

    markers = _marker_flags()
    cells = []
    for header_name, code in WATER_HEADER_CODES.items():
        if header_name not in columns:
            continue
        text, tooltip = _cell(record[columns[header_name]])
        raw = RAW_VALUE.search(tooltip)
        flags, notes = ["not_evaluated"], []
        if status in markers:
            flags.append(markers[status])
            notes.append(f"station status {status}")
        if text == NOT_MONITORED:
            notes.append("not monitored (*)")
        elif tooltip and not raw:
            notes.append(tooltip)  # 极值过滤, 当天质控不合格, ...
            flags += [flag for marker, flag in markers.items() if marker and marker in tooltip]
        value = float(raw["raw"]) if raw else (float(text) if _is_number(text) else None)
        flag = "missing" if value is None else worst(flags)
        cells.append({"station_id": section_id, "parameter": code, "observed_at": when,
                      "utc_offset_minutes": BEIJING_OFFSET_MINUTES, "averaging_period": "PT0S",
                      "value": value, "unit": standards.unit_of(code), "qc_flag": flag,
                      "qc_note": "; ".join(notes), "source": "cnemc-water", "original_value": text})
    return cells


def _published(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["source", "station_id", "observed_at", "published_class", "published_aqi",
                                        "published_primary_pollutants", "published_name", "station_status"])
    if len(frame):
        frame["observed_at"] = pd.to_datetime(frame["observed_at"], utc=True)
        frame = frame.drop_duplicates(subset=["station_id", "observed_at"], keep="last")
    return frame.reset_index(drop=True)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_cnemc_air(payload: bytes | str, fetched_at: datetime | None = None) -> Parsed:

    text = payload.decode("utf-8-sig") if isinstance(payload, bytes) else payload
    if text.lstrip().startswith("<"):
        raise PayloadError("the air feed returned HTML, not CSV")
    frame = _air_geojson(text) if text.lstrip().startswith("{") else pd.read_csv(StringIO(text), dtype=str,
                                                                                 keep_default_na=False)
    for required in ("timepoint", "stationcode"):
        if required not in frame.columns:
            raise PayloadError(f"air CSV lacks column {required!r}")
    in_scope = frame["stationcode"].isin(registry.air_stations().index)
    out_of_scope = int((~in_scope).sum()) * sum(c in frame.columns for c in AIR_COLUMNS)
    frame = frame[in_scope]
    try:
        when = pd.to_datetime(frame["timepoint"], format="%Y-%m-%dT%H%M").dt.tz_localize(BUREAU_TZ)
    except ValueError as error:
        raise PayloadError(f"air CSV timepoint is not YYYY-MM-DDTHHMM: {error}") from error
    rows = []
    for column, (code, period) in AIR_COLUMNS.items():
        if column not in frame.columns:
            continue
        texts = frame[column].str.strip()
        missing = texts.isin(AIR_MISSING)
        rows.append(pd.DataFrame({
            "station_id": frame["stationcode"], "parameter": code, "observed_at": when,
            "utc_offset_minutes": BEIJING_OFFSET_MINUTES, "averaging_period": period,
            "value": pd.to_numeric(texts.where(~missing), errors="coerce"),
            "unit": standards.unit_of(code), "qc_flag": missing.map({True: "missing", False: "not_evaluated"}),
            "qc_note": "", "source": "cnemc-air", "original_value": texts,
        }))
    observations = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    fetched = fetched_at or datetime.now(BUREAU_TZ)
    published = pd.DataFrame({
        "source": "cnemc-air", "station_id": frame["stationcode"], "observed_at": when,
        "published_class": None,
        "published_aqi": pd.to_numeric(frame.get("aqi", pd.Series(dtype=str)).replace("NA", ""), errors="coerce"),
        "published_primary_pollutants": frame.get("primarypollutant", ""), "published_name": frame.get("positionname", ""),
        "station_status": None})
    return Parsed(_finish(observations.to_dict(orient="records"), "cnemc-air", fetched), out_of_scope, "cnemc-air",
                  _published(published.to_dict(orient="records")))


def _air_geojson(text: str) -> pd.DataFrame:
    """The older GeoJSON form of the hourly air feed (2017 archives): the same fields per feature,
    `timepoint` as YYYY-MM-DDTHH:MM:SS and `-` for no value."""
    try:
        features = json.loads(text)["features"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise PayloadError(f"not an air GeoJSON FeatureCollection ({type(error).__name__}: {error})") from error
    frame = pd.DataFrame([f["properties"] for f in features]).astype(str)
    frame["timepoint"] = pd.to_datetime(frame["timepoint"]).dt.strftime("%Y-%m-%dT%H%M")
    frame["primarypollutant"] = frame.get("primarypollutant", "").str.strip("-;")
    return frame.replace({"-": "", "—": ""})


def _finish(rows: list[dict], source: str, fetched_at: datetime) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    if frame.empty:
        from pipelines.observations import empty_frame
        return empty_frame()
    frame["batch_id"] = ""
    frame = conform(frame)
    # Rows repeating a key stay: validation's QC duplicate test settles them, each with its reason.
    frame["batch_id"] = batch_id(source, fetched_at.astimezone(BUREAU_TZ).date(), frame)
    return frame.reset_index(drop=True)


PARSERS = {"cnemc-water": parse_cnemc_water, "cnemc-air": parse_cnemc_air}


FILE_SOURCES = ("cnemc-water", "cnemc-air", "lab", "coastal")


def parse_payload(source: str, payload: bytes, name: str, fetched_at: datetime) -> Parsed:
    """Parse one payload of a source as received (`name` tells CSV from XLSX for the sampling files)."""
    if source in PARSERS:
        return PARSERS[source](payload, fetched_at)
    from pipelines.sources import samples

    if source == "lab":
        return samples.parse_lab(payload, name)
    if source == "coastal":
        return samples.parse_coastal(payload, name)
    raise ValueError(f"unknown file source {source!r}; known: {list(FILE_SOURCES)}")


def parse_file(source: str, path: Path, fetched_at: datetime) -> Parsed:
    path = Path(path)
    return parse_payload(source, path.read_bytes(), path.name, fetched_at)
