"""Compares the classes and AQI the feeds publish with envmon's own, on real payloads.

Used by the tests on the real samples and by `bench/published_agreement.py`; the publisher's
value is kept beside envmon's, never replaced (standards.md §8). Each hour is recomputed under the
rules in force at it (standards.in_force): the March 2026 hours under HJ 633—2026."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from io import StringIO

import pandas as pd

from pipelines.assessment import air_quality, surface_water
from pipelines.clock import BUREAU_TZ
from pipelines.reference import registry, standards
from pipelines.sources.files import RAW_VALUE, _cell

CLASSING_ITEMS = {"pH": "ph", "溶解氧": "do", "高锰酸盐指数": "codmn", "氨氮": "nh3n", "总磷": "tp"}
PRIMARY_POLLUTANT_CODES = {"颗粒物(PM10)": "pm10", "细颗粒物(PM2.5)": "pm2_5", "臭氧1小时(O3_1h)": "o3",
                           "臭氧8小时(O3_8h)": "o3", "二氧化氮(NO2)": "no2", "二氧化硫(SO2)": "so2",
                           "一氧化碳(CO)": "co"}


@dataclass
class PublishedWaterRow:
    province: str
    name: str
    published_class: str
    raw: dict[str, float]
    displayed: dict[str, float]
    section_id: str | None


def published_water_rows(payload: str) -> list[PublishedWaterRow]:
    document = json.loads(payload)
    names = [re.sub(r"<br/>.*", "", h) for h in document["thead"]]
    feed_sections = registry.cnemc_water_sections()
    by_key = {(r["province"], r["name_zh"]): sid for sid, r in feed_sections.iterrows()}
    rows = []
    for values in document["tbody"]:
        record = dict(zip(names, values))
        if not record.get("水质类别"):
            continue  # published without a class: not classified
        name, _ = _cell(record["断面名称"])
        raw, displayed = {}, {}
        for header, code in CLASSING_ITEMS.items():
            text, tooltip = _cell(record.get(header))
            match = RAW_VALUE.search(tooltip)
            if match:
                raw[code] = float(match["raw"])
            if re.fullmatch(r"-?[0-9.]+", text or ""):
                displayed[code] = float(text)
        rows.append(PublishedWaterRow(record["省份"], name, record["水质类别"], raw, displayed,
                                      by_key.get((record["省份"], name))))
    return rows


@dataclass
class WaterAgreement:
    rows: int
    registry_rows: int
    registry_agree: int            # the registry's water-body type, raw values
    any_type_agree_raw: int        # rows outside the registry: type unknown, either type
    any_type_agree_displayed: int
    disagreements: list[PublishedWaterRow] = field(default_factory=list)


def water_agreement(payload: str) -> WaterAgreement:
    rows = published_water_rows(payload)
    registry_rows = [r for r in rows if r.section_id]
    registry_agree = sum(surface_water.classify(r.raw, registry.water_body_type(r.section_id)).water_class
                         == r.published_class for r in registry_rows)

    def any_type(values, published):
        return published in {surface_water.classify(values, t).water_class for t in ("river", "lake")}

    disagreements = [r for r in rows if not any_type(r.raw, r.published_class)]
    return WaterAgreement(len(rows), len(registry_rows), registry_agree,
                          sum(any_type(r.raw, r.published_class) for r in rows),
                          sum(any_type(r.displayed, r.published_class) for r in rows), disagreements)


@dataclass
class AirAgreement:
    """envmon's real-time AQI against the feed's, each hour under the rules in force at its label
    (the end of the hour): HJ 633-2012 before 2026-03-01, HJ 633—2026 from then on."""
    hours: int              # hours the feed published an AQI for and envmon computed one
    aqi_agree: int
    primary_agree: int      # among the hours whose AQI agrees
    aqi_above_50_agree: int
    unreproduced: pd.DataFrame
    by_day: pd.DataFrame = field(default_factory=pd.DataFrame)   # per bureau day (see per_day)
    published_withheld: int = 0       # the feed published an AQI where envmon's availability rule gives none
    unpublished_computed: int = 0     # the feed published none where envmon gives one
    rule_versions: dict[str, int] = field(default_factory=dict)   # hours compared per rule version

    @property
    def aqi_share(self) -> float:
        return self.aqi_agree / self.hours if self.hours else float("nan")

    @property
    def primary_share(self) -> float:
        return self.primary_agree / self.aqi_agree if self.aqi_agree else float("nan")


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def published_primary(text: str) -> set[str]:
    parts = [p.strip() for p in text.split(",") if p.strip() and p.strip() != "NA"]
    return {PRIMARY_POLLUTANT_CODES.get(p, p) for p in parts}


def _hour_end(timepoint: str) -> datetime:
    """The feed's `timepoint` (YYYY-MM-DDTHHMM, Beijing time, the end of the hour) as an aware time."""
    return datetime.strptime(timepoint, "%Y-%m-%dT%H%M").replace(tzinfo=BUREAU_TZ)


def air_agreement(payload: str, rules_at=None) -> AirAgreement:
    """Every hour of a CNEMC hourly air CSV recomputed from its six 1-hour concentrations under the
    rules in force at the hour, against the AQI and primary pollutants the feed published.
    `rules_at` (a date) judges every hour under the rules of that day instead: what another
    version would have said (bench/published_agreement.py: the figure before the 2026 rules)."""
    import numpy as np

    frame = pd.read_csv(StringIO(payload), dtype=str, keep_default_na=False)
    hours = aqi_agree = primary_agree = above_50 = withheld = computed_unpublished = 0
    missed, days, versions = [], [], {}
    records = frame.to_dict(orient="records")
    hour_ends = [_hour_end(record["timepoint"]) for record in records]
    # every hour at once (air_quality.hourly_aqis), each under the rules at its end (or at rules_at)
    values = {c: np.array([np.nan if (v := _number(text)) is None else v for text in frame[c].tolist()], dtype=float)
              for c in air_quality.POLLUTANTS}
    results = air_quality.hourly_aqis(values, hour_ends if rules_at is None else rules_at, size=len(records))
    for n, (record, hour_end) in enumerate(zip(records, hour_ends)):
        published = _number(record["aqi"])
        result = results.result(n)
        if published is None:
            computed_unpublished += result.aqi is not None
            continue
        if result.aqi is None:
            withheld += 1
            missed.append({"timepoint": record["timepoint"], "stationcode": record["stationcode"],
                           "published_aqi": published, "envmon_aqi": None, "rule_version": result.rule_version})
            continue
        hours += 1
        versions[result.rule_version] = versions.get(result.rule_version, 0) + 1
        agrees = result.aqi == published
        primary = agrees and set(result.primary_pollutants) == published_primary(record["primarypollutant"])
        aqi_agree += agrees
        above_50 += agrees and published > 50
        primary_agree += primary
        days.append({"day": (hour_end - timedelta(hours=1)).date(), "aqi_agrees": agrees, "primary_agrees": primary})
        if not agrees:
            missed.append({"timepoint": record["timepoint"], "stationcode": record["stationcode"],
                           "published_aqi": published, "envmon_aqi": result.aqi, "rule_version": result.rule_version})
    return AirAgreement(hours, aqi_agree, primary_agree, above_50, pd.DataFrame(missed), per_day(pd.DataFrame(days)),
                        withheld, computed_unpublished, versions)


def per_day(hours: pd.DataFrame) -> pd.DataFrame:
    """Agreement per bureau day (an hour belongs to the day its hour starts in: the hour labelled
    03-02T00 is the last of 03-01): hours compared, AQI and primary pollutants agreeing, shares."""
    if hours.empty:
        return pd.DataFrame(columns=["day", "hours", "aqi_agree", "primary_agree", "aqi_share", "primary_share"])
    grouped = hours.groupby("day").agg(hours=("aqi_agrees", "size"), aqi_agree=("aqi_agrees", "sum"),
                                       primary_agree=("primary_agrees", "sum")).reset_index()
    grouped["aqi_share"] = grouped["aqi_agree"] / grouped["hours"]
    grouped["primary_share"] = grouped["primary_agree"] / grouped["aqi_agree"].where(grouped["aqi_agree"] > 0)
    return grouped


def _aqi_of_present(result: air_quality.AqiResult) -> int | None:
    """The AQI an hour's pollutants give. Where the availability rule (aqi_conventions.csv) leaves the
    hour without one and the feed published one anyway (other provinces do, for hours without SO2
    or CO), the value is still compared: the rule decides whether an AQI is published, not what it is."""
    if result.aqi is not None or not result.sub_indices:
        return result.aqi
    return max(result.sub_indices.values())


def compare_published(published: pd.DataFrame, observations: pd.DataFrame) -> pd.DataFrame:
    """The publisher's class or AQI beside envmon's own from the same reading, and whether they
    agree (None where the publisher gave none). Disagreements are counted, never hidden. Set-based
    (issue 27): every published water reading classed at once (surface_water.classify_many), every
    published hour's AQI computed at once (air_quality.hourly_aqis, each hour under the rules at its
    end), as _aqi_of_present(hourly_aqi(...)) gives it hour by hour."""
    if published is None or published.empty:
        return published
    # the columns compared, then the values present (filtering all of a month's columns costs seconds)
    usable = observations[["station_id", "observed_at", "averaging_period", "parameter", "value"]]
    usable = usable[usable["value"].notna().to_numpy()]
    sources = published["source"].tolist()
    water = [n for n, source in enumerate(sources) if source == "cnemc-water"]
    air = [n for n, source in enumerate(sources) if source != "cnemc-water"]
    envmon_class, envmon_aqi, agrees = [None] * len(published), [None] * len(published), [None] * len(published)
    if water:
        _compare_water(published, usable, water, envmon_class, agrees)
    if air:
        _compare_air(published, usable, air, envmon_aqi, agrees)
    return published.assign(envmon_class=envmon_class, envmon_aqi=envmon_aqi, agrees=agrees)


def _compare_water(published: pd.DataFrame, usable: pd.DataFrame, rows: list[int], envmon_class: list,
                   agrees: list) -> None:
    """The water rows of compare_published: each reading's values at its (section, time), the
    frame's last value of a parameter winning, all classed at once (surface_water.classify_many)."""
    readings: dict = {}
    sampled = usable[_is(usable["averaging_period"], "PT0S")]
    for key, parameter, value in zip(zip(sampled["station_id"].tolist(), _instants(sampled["observed_at"])),
                                     sampled["parameter"].tolist(), sampled["value"].tolist()):
        readings.setdefault(key, {})[parameter] = value
    instants = _instants(published["observed_at"])
    station_ids = published["station_id"].tolist()
    keys, codes, values_of, types = [], [], [], {}
    for n in rows:
        values = readings.get((station_ids[n], instants[n]), {})
        keys += [n] * len(values)
        codes += list(values)
        values_of += list(values.values())
        types[n] = registry.water_body_type(station_ids[n])
    verdicts = surface_water.classify_many(keys, codes, values_of, types, dict.fromkeys(types))
    classes = published["published_class"].tolist()
    for n in rows:
        computed = verdicts[n].water_class
        envmon_class[n] = computed
        unclassed = classes[n] is None or pd.isna(classes[n]) or classes[n] == ""
        agrees[n] = None if unclassed else computed == classes[n]


def _compare_air(published: pd.DataFrame, usable: pd.DataFrame, rows: list[int], envmon_aqi: list,
                 agrees: list) -> None:
    """The air rows of compare_published: each hour's 1-hour readings at its (station, time), the
    frame's last value of a parameter winning, as one grid (hour × parameter), then the AQI of
    every hour at once under the rules at its end (air_quality.hourly_aqis)."""
    import numpy as np

    hourly = usable[_is(usable["averaging_period"], "PT1H")]
    mine = published.iloc[rows]
    # (station, time) of every reading and every published hour as one integer key
    stations, _ = pd.factorize(pd.concat([hourly["station_id"].astype(object), mine["station_id"].astype(object)],
                                         ignore_index=True), use_na_sentinel=False)
    times, distinct_times = pd.factorize(np.concatenate([_instant_values(hourly["observed_at"]),
                                                         _instant_values(mine["observed_at"])]))
    keys = stations.astype(np.int64) * max(len(distinct_times), 1) + times
    reading_keys, hour_keys = keys[:len(hourly)], keys[len(hourly):]
    parameters, names = pd.factorize(hourly["parameter"].astype(object), use_na_sentinel=False)
    found = pd.Index(hour_keys).get_indexer(reading_keys) if pd.Index(hour_keys).is_unique else None
    if found is None:   # a (station, time) published twice: each row looks its readings up alike
        distinct_hours = pd.unique(hour_keys)
        found = pd.Index(distinct_hours).get_indexer(reading_keys)
        hour_rows = pd.Index(distinct_hours).get_indexer(hour_keys)
    else:
        distinct_hours, hour_rows = hour_keys, np.arange(len(hour_keys))
    grid = np.full((len(distinct_hours), len(names)), np.nan)
    cells = found * len(names) + parameters
    kept = found >= 0
    last = kept & ~pd.Series(np.where(kept, cells, -1)).duplicated(keep="last").to_numpy()
    grid.reshape(-1)[cells[last]] = hourly["value"].to_numpy(dtype=float)[last]
    values = {name: grid[hour_rows, k] for k, name in enumerate(names)}
    results = air_quality.hourly_aqis(values, mine["observed_at"].reset_index(drop=True), size=len(rows))
    # the AQI an hour's pollutants give (_aqi_of_present): the AQI, else the largest sub-index
    computed = np.where(results.aqi >= 0, results.aqi, results.highest).tolist()
    for n, value, published_aqi in zip(rows, computed, mine["published_aqi"].tolist()):
        value = None if value < 0 else value
        envmon_aqi[n] = value
        agrees[n] = None if pd.isna(published_aqi) else value == int(published_aqi)


def _is(column: pd.Series, text: str):
    """Where `column` holds `text`, as a plain boolean mask (False where it holds nothing)."""
    return column.eq(text).fillna(False).to_numpy(dtype=bool)


def _instant_values(times: pd.Series):
    """Aware times as integer nanoseconds since the epoch (NaT as pandas' NaT integer)."""
    return pd.DatetimeIndex(pd.to_datetime(times, utc=True)).as_unit("ns").asi8


def _instants(times: pd.Series) -> list:
    """Aware times as integer nanoseconds since the epoch (None where missing): dictionary keys that
    cost nothing to make, where 10^5 Timestamp objects cost a second."""
    stamps = pd.to_datetime(times, utc=True)
    values = pd.DatetimeIndex(stamps).as_unit("ns").asi8.tolist()
    return [None if missing else value for value, missing in zip(values, stamps.isna().tolist())]
