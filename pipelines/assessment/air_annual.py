"""The annual assessment of a city's air for a calendar year, under the rules in force (the public
entry point for reports: `city_annual_assessment(engine, city, year)`).

Each station's days are computed from its stored hourly observations with the nightly day rules
(daily.air_day_values under the day's validity rules), the city's day is the mean of its stations'
valid values (aqi_conventions.csv city_daily_value), and the year is judged by
air_quality.annual_assessment under the version in force on its last day (period_changeover.csv):
2026 against GB 3095—2026 phase 1, PM2.5 30/60 µg/m³. From 2031 the GB 3095—2026 phase-2 limits of
PM10, SO2 and NO2 are not known, and the assessment raises standards.RuleRefused.

The stored statistics (warehouse/air_annual_store.py, table air_annual_statistics): per station and
per city, for the closed year and for the year to date, `year_statistics` makes every row from the
stations' daily values, every station and city at once (statistics_of_many, issue 27), each row what
the one-site functions give (statistics_of: annual_assessment, annual_is_valid; the cities ranked by
rank_by_composite_index; tests/test_air_annual_set_based.py); `refresh_year` is the pipeline's step (the nightly assessment, `envmon
reassess` and the archive path call it for the years they touch). It reads the stations' daily
values stored per day (table air_station_days, migration 0022: station_days_of_year), each day
computed from its hourly observations once, and again when the run changed it or the basis it
was computed under changed, not the year's hourly observations at every run (issue 27). What is
decided here:

* A year to date, or a year with fewer daily values than GB 3095 Table 4 asks (air_validity.csv:
  ≥ 324 a year and ≥ 27 in each month, ≥ 25 in February, for SO2, NO2, PM10 and PM2.5), is
  'insufficient data' (数据不足): its means, percentiles and composite index are stored, its items
  are not judged (attained NULL), never a pass or a fail.
* The composite index (综合指数) is air_quality.annual_assessment's Σ Cᵢ/Sᵢ with Sᵢ the GB 3095
  class Ⅱ limits in force for the year (2026: PM2.5 annual 30 µg/m³, GB 3095—2026 phase 1).
  UNVERIFIED: the official 城市环境空气质量排名技术规定 text is not in hand (standards.md §4.3 quotes
  it from a public JS module and a description); whether the ministry's ranking divides by the limits
  in force or keeps GB 3095-2012's after 2026-03-01 is not known.
* The cities' rank: air_quality.rank_by_composite_index (ascending, 1 the best) among the registry's
  cities with an index for the same period (a year to date ranks as the ministry's 1–N月 ranking does).
"""
from __future__ import annotations

import hashlib
from datetime import date, timedelta

import numpy as np
import pandas as pd

from pipelines.assessment import air_quality, daily
from pipelines.observations import ASSESSABLE_FLAGS
from pipelines.reference import registry, standards


def station_days(observations_of_day, station_ids, first: date, last: date, assessable=ASSESSABLE_FLAGS) -> pd.DataFrame:
    """Rows (day, station_id, so2, no2, co, pm10, pm2_5, o3, o3_8h) of the stations' daily values
    from `first` to `last`; `observations_of_day(day)` gives a day's stored observations."""
    rows = []
    day = first
    while day <= last:
        observations = observations_of_day(day)
        observations = observations[observations["qc_flag"].isin(assessable)]
        for station_id in station_ids:
            hourly = daily._hourly_by_pollutant(observations, station_id, day)
            rows.append({"day": day, "station_id": station_id, **daily.air_day_values(hourly, day)})
        day += timedelta(days=1)
    frame = pd.DataFrame(rows)
    return frame.astype({c: "float64" for c in frame.columns if c not in ("day", "station_id")})


def city_stations(city: str) -> list[str]:
    stations = registry.air_stations()
    chosen = stations[stations["city"] == city]
    if chosen.empty:
        raise KeyError(f"no air station of {city!r} in the registry (air_stations.csv)")
    return list(chosen.index)


def city_annual_assessment(engine, city: str, year: int, assessable=ASSESSABLE_FLAGS) -> air_quality.AnnualAssessment:
    """The annual assessment of `city`'s air (its registry stations) for calendar year `year`, from
    the warehouse, under the rules in force (see the module docstring)."""
    from warehouse import db

    ids = city_stations(city)
    days = station_days(lambda d: db.observations_for_day(engine, d, ids), ids, date(year, 1, 1), date(year, 12, 31),
                        assessable)
    return air_quality.annual_assessment(air_quality.city_daily_values(days), year)


# --- the stored statistics (table air_annual_statistics) ----------------------------------------

PERIOD_YEAR, PERIOD_YEAR_TO_DATE = "year", "year_to_date"
ITEMS = ("so2", "no2", "pm10", "pm2_5", "co", "o3")        # the HJ 663 annual items (o3: daily max 8-h)
MEAN_ITEMS = ("so2", "no2", "pm10", "pm2_5")               # those with an annual mean (and GB 3095 Table 4's rule)
DAY_COLUMNS = ("so2", "no2", "co", "pm10", "pm2_5", "o3", "o3_8h")
OBSERVATION_COLUMNS = ["station_id", "parameter", "partition_day", "observed_at", "averaging_period", "value",
                       "qc_flag"]


def _column(code: str) -> str:
    return "o3_8h" if code == "o3" else code


def station_day_values(observations: pd.DataFrame, stations: list[str], days: list[date]) -> pd.DataFrame:
    """Rows (day, station_id, so2 … o3_8h) of each station's daily values with any value, from the
    observations of `days` (with partition_day), as the nightly computes a station's day: the hourly
    series cut from daily.hourly_grid, daily.air_day_values under each day's rules."""
    if observations.empty:   # no station-day with a value (a month before the first stored day): no rows
        # with the value columns as floats: an object-typed empty month made pandas 3's concat of the
        # year's months all objects, and the cities' daily means (groupby mean) then differed in the last bit
        return pd.DataFrame({"day": pd.Series([], dtype="object"), "station_id": pd.Series([], dtype="object"),
                             **{c: pd.Series([], dtype="float64") for c in DAY_COLUMNS}})
    grid = daily.hourly_grid(observations, stations, days)
    statistics = air_quality.daily_statistics(grid, days)   # every station-day at once (issue 27)
    with_any = ~pd.isna(grid).all(axis=(2, 3))
    rows = [{"day": day, "station_id": station_id, **{c: float(statistics[c][s, d]) for c in DAY_COLUMNS}}
            for d, day in enumerate(days) for s, station_id in enumerate(stations) if with_any[s, d]]
    return pd.DataFrame(rows, columns=["day", "station_id", *DAY_COLUMNS]).astype({c: "float64" for c in DAY_COLUMNS})


def stored_station_days(engine, first: date, last: date, assessable=ASSESSABLE_FLAGS) -> pd.DataFrame:
    """station_day_values of every registry air station from the stored observations of `first` …
    `last` (the QC flags the bureau assesses), read a month at a time."""
    from warehouse import db

    stations = list(registry.air_stations().index)
    parts, start = [], first
    while start <= last:
        end = min(last, (start.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1))
        observations = db.observations_between(engine, start, end, stations, OBSERVATION_COLUMNS)
        observations = observations[observations["qc_flag"].isin(assessable)]
        days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
        parts.append(station_day_values(observations, stations, days))
        start = end + timedelta(days=1)
    return pd.concat(parts, ignore_index=True) if parts else station_day_values(pd.DataFrame(), stations, [])


def _indexed(rows: pd.DataFrame) -> pd.DataFrame:
    return _indexed_unsorted(rows).sort_index()


def _indexed_unsorted(rows: pd.DataFrame) -> pd.DataFrame:
    frame = rows[[c for c in air_quality.ANNUAL_COLUMNS]].astype("float64")
    frame.index = pd.DatetimeIndex(pd.to_datetime(pd.Series(list(rows["day"]), dtype="object")), name="day")
    return frame


def year_rules(year: int) -> tuple:
    """(the rules' date, rule version, HJ 663 table) of `year`: the same for every station of the year."""
    at = air_quality.year_rule_date(year)
    return at, standards.rule_version("air", at), air_quality.annual_statistics_table(at)


def _status(has_data: bool, limits_known: bool, year_valid: bool, attained: list) -> tuple[str, bool | None]:
    """A site's year status and attainment, one rule for the one-site and the set-based statistics:
    no data; a GB 3095 limit in force not known (display: 目标未定); short of GB 3095 Table 4's valid
    days (or a year to date) never judged; else attained only when every item is."""
    if not has_data:
        return "no data", None
    if not limits_known:
        return "target unset", None
    if not year_valid:
        return "insufficient data", None
    if False in attained:
        return "assessed", False
    if all(a is True for a in attained):
        return "assessed", True
    return "indicators incomplete", None


def statistics_of(days: pd.DataFrame, year: int, through: date, rules: tuple | None = None) -> dict:
    """One station's or city's row of statistics (without scope, site and rank) from its daily values
    (DatetimeIndex; the columns of air_quality.ANNUAL_COLUMNS) of `year` up to `through`; `rules`:
    year_rules(year), looked up once by a caller with many stations."""
    closed = through >= date(year, 12, 31)
    at, version, table = rules or year_rules(year)
    present = days.dropna(how="all")
    row = {"year": year, "period": PERIOD_YEAR if closed else PERIOD_YEAR_TO_DATE, "first_day": date(year, 1, 1),
           "through_day": min(through, date(year, 12, 31)), "days_with_data": int(len(present)),
           "standard": version.label, "rule_version": version.id, "rules_from": at}
    notes, result = [], None
    try:
        result = air_quality.annual_assessment(days, year)
        notes += result.notes
    except standards.RuleRefused as refused:
        notes.append(f"not assessed: {refused}")
    year_valid = closed and all(air_quality.annual_is_valid(days[code], at) for code in MEAN_ITEMS)
    for code in ITEMS:
        series = days[_column(code)].dropna()
        row[f"{code}_valid_days"] = int(len(series))
        row[f"{code}_percentile_p"] = float(table.loc[code, "percentile"]) if code in table.index else None
        limits = {} if result is None else result.limits.get(code, {})
        if code in MEAN_ITEMS:
            row[f"{code}_annual_mean"] = None if result is None else result.means.get(code)
            row[f"{code}_mean_limit"] = limits.get("mean")
        row[f"{code}_percentile"] = None if result is None else result.percentiles.get(code)
        row[f"{code}_percentile_limit"] = limits.get("percentile")
        row[f"{code}_attained"] = result.compliant.get(code) if result is not None and year_valid else None
    attained = [row[f"{code}_attained"] for code in ITEMS]
    row["exceeding_items"] = ";".join(code for code in ITEMS if row[f"{code}_attained"] is False)
    row["status"], row["is_attained"] = _status(bool(len(present)), result is not None, year_valid, attained)
    if len(present) and result is not None and not year_valid:
        rules = air_quality.validity(at)
        fewest = min(row[f"{code}_valid_days"] for code in MEAN_ITEMS)
        notes.append(f"year to date through {row['through_day'].isoformat()}: not judged before the year ends"
                     if not closed else
                     f"fewer daily values than GB 3095 Table 4 asks (≥ {rules['annual_mean']} a year, "
                     f"≥ {rules['monthly_days']} each month, ≥ {rules['monthly_days_february']} in February): "
                     f"{fewest} for the item with the fewest")
    row["composite_index"] = None if result is None else result.composite_index
    row["composite_primary"] = None if result is None else result.composite_primary
    row["notes"] = "; ".join(notes)
    return row


def year_statistics(station_days_frame: pd.DataFrame, year: int, through: date) -> list[dict]:
    """The rows of table air_annual_statistics for `year` (closed when `through` is its last day,
    else the year to date): one per registry air station, one per city (its day the mean of its
    stations' valid values, air_quality.city_daily_values), the cities ranked by composite index.
    `station_days_frame`: rows (day, station_id, so2 … o3_8h) as station_day_values gives them, one
    per station and day. Set-based (issue 27): every station's and city's year at once
    (statistics_of_many), each row what statistics_of gives for it alone (tests/test_air_annual_set_based.py)."""
    stations = registry.air_stations()
    frame = station_days_frame[[d.year == year and d <= through for d in station_days_frame["day"]]] \
        if len(station_days_frame) else station_days_frame
    first = date(year, 1, 1)
    length = (date(year, 12, 31) - first).days + 1
    ids = list(stations.index)
    cities = list(dict.fromkeys(stations["city"]))
    if not len(frame):   # no rows (perhaps no columns either)
        frame = pd.DataFrame({"day": [], "station_id": [], **{c: [] for c in air_quality.ANNUAL_COLUMNS}})
    position = pd.Index(ids).get_indexer(frame["station_id"])
    mine = frame[position >= 0]
    position = position[position >= 0]
    offsets = {d: (d - first).days for d in set(mine["day"])}
    day_index = np.array([offsets[d] for d in mine["day"]], dtype=int)
    if len(mine) and pd.Series(position * length + day_index).duplicated().any():
        raise ValueError("station_days_frame has more than one row of a station and day")
    values = mine[list(air_quality.ANNUAL_COLUMNS)].to_numpy(dtype="float64")
    station_values = np.full((len(ids), length, len(air_quality.ANNUAL_COLUMNS)), np.nan)
    station_values[position, day_index] = values
    station_rows = np.zeros((len(ids), length), bool)
    station_rows[position, day_index] = True
    # the cities' days: the mean of their stations' rows per day, in the frame's stored order (as
    # city_daily_values of each city's rows: pandas' group mean adds a group's rows in frame order)
    city_of = pd.Index(cities).get_indexer(stations["city"].to_numpy()[position])
    order = np.argsort(mine.index.to_numpy(), kind="stable")   # the stored order (sort_index), as before
    keyed = pd.DataFrame(values[order], columns=list(air_quality.ANNUAL_COLUMNS)).assign(
        _city=city_of[order], _day=day_index[order])
    means = keyed.groupby(["_city", "_day"], sort=False)[list(air_quality.ANNUAL_COLUMNS)].mean()
    city_position = means.index.get_level_values("_city").to_numpy()
    city_day = means.index.get_level_values("_day").to_numpy()
    city_values = np.full((len(cities), length, len(air_quality.ANNUAL_COLUMNS)), np.nan)
    city_values[city_position, city_day] = means.to_numpy(dtype="float64")
    city_rows = np.zeros((len(cities), length), bool)
    city_rows[city_position, city_day] = True

    statistics = statistics_of_many(np.concatenate([station_values, city_values]),
                                    np.concatenate([station_rows, city_rows]), year, through)
    rows = [{"scope": "station", "site_id": station_id, "city": city, **statistics[s],
             "city_rank": None, "cities_ranked": None}
            for s, (station_id, city) in enumerate(zip(ids, stations["city"]))]
    city_rows_out = [{"scope": "city", "site_id": city, "city": city, **statistics[len(ids) + c]}
                     for c, city in enumerate(cities)]
    ranks = air_quality.rank_by_composite_index({row["site_id"]: row["composite_index"] for row in city_rows_out})
    ranked = sum(rank is not None for rank in ranks.values())
    for row in city_rows_out:
        row["city_rank"] = ranks[row["site_id"]]
        row["cities_ranked"] = ranked if row["city_rank"] is not None else None
    return rows + city_rows_out


def _limits_of_year(at, table) -> dict:
    """{(code, averaging): limit, or the standards.RuleRefused its lookup raises}: the GB 3095 limits
    annual_assessment looks up for a year, each looked up once."""
    wanted = [(code, row[kind]) for code, row in table.iterrows()
              for kind in ("percentile_limit_averaging", "mean_limit_averaging") if row[kind]]
    wanted += [(code, "annual") for code in MEAN_ITEMS] + [("co", "PT24H"), ("o3", "PT8H")]
    limits = {}
    for code, averaging in wanted:
        try:
            limits[(code, averaging)] = standards.air_limit(code, averaging, at=at)
        except standards.RuleRefused as refused:
            limits[(code, averaging)] = refused
    return limits


def statistics_of_many(values: np.ndarray, with_row: np.ndarray, year: int, through: date) -> list[dict]:
    """statistics_of for many stations or cities at once: values[site, day of `year`, item
    (air_quality.ANNUAL_COLUMNS order)] their daily values (NaN: none), with_row[site, day] the days
    each has a row for (its days' index, valid values or not). Each row is statistics_of's for that
    site alone, number for number: the same percentile rule (HJ 663 Annex A, k = 1 + (n − 1)·p/100),
    the means summed as Series.mean sums them, GB 3095 Table 4's counts, the year's rules."""
    closed = through >= date(year, 12, 31)
    at, version, table = year_rules(year)
    columns = list(air_quality.ANNUAL_COLUMNS)
    sites, length = with_row.shape
    present = ~np.isnan(values)
    days_with_data = present.any(axis=2).sum(axis=1)
    counts = present.sum(axis=1)                                     # [site, item]
    rules = air_quality.validity(at)
    months = np.array([(date(year, 1, 1) + timedelta(days=n)).month for n in range(length)])
    starts = np.flatnonzero(np.r_[True, months[1:] != months[:-1]])
    needed = np.array([rules["monthly_days_february"] if m == 2 else rules["monthly_days"] for m in range(1, 13)])
    per_month = np.add.reduceat(present.astype(int), starts, axis=1)  # [site, month, item]
    valid_item = (counts >= rules["annual_mean"]) & (per_month >= needed[None, :, None]).all(axis=1)
    year_valid = closed & valid_item[:, [columns.index(c) for c in MEAN_ITEMS]].all(axis=1)
    limits = _limits_of_year(at, table)
    ordered = np.sort(values, axis=1)                                # NaN last
    taken = np.arange(sites)
    percentiles, means, compliant = {}, {}, {}
    for code, row in table.iterrows():
        c = columns.index(_column(code))
        n = counts[:, c]
        k = 1 + (n - 1) * float(row["percentile"]) / 100
        s = np.maximum(k.astype(int), 1)
        low = ordered[taken, np.clip(s - 1, 0, length - 1), c]
        high = ordered[taken, np.clip(s, 0, length - 1), c]
        with np.errstate(invalid="ignore"):
            value = np.where(s >= n, ordered[taken, np.clip(n - 1, 0, length - 1), c], low + (high - low) * (k - s))
        percentiles[code] = np.where(n > 0, value, np.nan)
        limit = limits[(code, row["percentile_limit_averaging"])]
        ok = percentiles[code] <= limit if not isinstance(limit, Exception) else np.zeros(sites, bool)
        if row["mean_limit_averaging"]:
            means[code] = air_quality._means_as_pandas(values[:, :, c])
            limit = limits[(code, row["mean_limit_averaging"])]
            ok = ok & (means[code] <= limit) if not isinstance(limit, Exception) else ok
        compliant[code] = ok
    # a site's first refused lookup, in annual_assessment's order: each item with data (its
    # percentile limit, then its mean limit), then the composite index's limits
    refused = [None] * sites
    for code, row in reversed(list(table.iterrows())):
        has = counts[:, columns.index(_column(code))] > 0
        for kind in reversed(("percentile_limit_averaging", "mean_limit_averaging")):
            limit = limits.get((code, row[kind])) if row[kind] else None
            if isinstance(limit, Exception):
                for i in np.flatnonzero(has):
                    refused[i] = limit
    composite_ready = np.ones(sites, bool)
    for code in MEAN_ITEMS:
        composite_ready &= (code in means) & (counts[:, columns.index(code)] > 0)
    for code in ("co", "o3"):
        composite_ready &= (code in percentiles) & (counts[:, columns.index(_column(code))] > 0)
    composite_limits = [(c, limits[(c, "annual")]) for c in MEAN_ITEMS] + [("co", limits[("co", "PT24H")]),
                                                                          ("o3", limits[("o3", "PT8H")])]
    late = next((limit for _, limit in composite_limits if isinstance(limit, Exception)), None)
    if late is not None:
        for i in np.flatnonzero(composite_ready):
            refused[i] = refused[i] or late
    composite = primary = None
    if late is None and composite_ready.any():
        single = [means[c] / limit if c in MEAN_ITEMS else percentiles[c] / limit for c, limit in composite_limits]
        composite = np.zeros(sites)
        for part in single:
            composite = composite + part
        primary = np.argmax(np.vstack(single), axis=0)
    names = [c for c, _ in composite_limits]
    # the rule versions of each site's days other than the year's (annual_assessment's note)
    labels = [standards.rule_version("air", date(year, 1, 1) + timedelta(days=n)).label for n in range(length)]
    earlier = {label: with_row[:, [n for n in range(length) if labels[n] == label]].any(axis=1)
               for label in sorted(set(labels) - {version.label})}
    validity_note = (f"fewer daily values than GB 3095 Table 4 asks (≥ {rules['annual_mean']} a year, "
                     f"≥ {rules['monthly_days']} each month, ≥ {rules['monthly_days_february']} in February): ")
    p_of = {code: float(table.loc[code, "percentile"]) if code in table.index else None for code in ITEMS}
    mean_limit = {code: limits.get((code, table.loc[code, "mean_limit_averaging"])) for code in means}
    percentile_limit = {code: limits[(code, table.loc[code, "percentile_limit_averaging"])] for code in percentiles}
    out = []
    for i in range(sites):
        row = {"year": year, "period": PERIOD_YEAR if closed else PERIOD_YEAR_TO_DATE, "first_day": date(year, 1, 1),
               "through_day": min(through, date(year, 12, 31)), "days_with_data": int(days_with_data[i]),
               "standard": version.label, "rule_version": version.id, "rules_from": at}
        assessed = refused[i] is None
        notes = [] if assessed else [f"not assessed: {refused[i]}"]
        if assessed:
            mine = [label for label, has in earlier.items() if has[i]]
            if mine:
                notes.append(f"the year is assessed under {version.label} (in force on {at.isoformat()}); some of its "
                             f"days fell under {'; '.join(mine)} (period_changeover.csv: air/year 'end')")
        for code in ITEMS:
            c = columns.index(_column(code))
            has = counts[i, c] > 0 and code in percentiles
            row[f"{code}_valid_days"] = int(counts[i, c])
            row[f"{code}_percentile_p"] = p_of[code]
            if code in MEAN_ITEMS:
                row[f"{code}_annual_mean"] = float(means[code][i]) if assessed and has and code in means else None
                row[f"{code}_mean_limit"] = mean_limit[code] if assessed and has and code in means else None
            row[f"{code}_percentile"] = float(percentiles[code][i]) if assessed and has else None
            row[f"{code}_percentile_limit"] = percentile_limit[code] if assessed and has else None
            row[f"{code}_attained"] = bool(compliant[code][i]) if assessed and has and year_valid[i] else None
        attained = [row[f"{code}_attained"] for code in ITEMS]
        row["exceeding_items"] = ";".join(code for code in ITEMS if row[f"{code}_attained"] is False)
        row["status"], row["is_attained"] = _status(bool(days_with_data[i]), assessed, bool(year_valid[i]), attained)
        if days_with_data[i] and assessed and not year_valid[i]:
            fewest = min(row[f"{code}_valid_days"] for code in MEAN_ITEMS)
            notes.append(f"year to date through {row['through_day'].isoformat()}: not judged before the year ends"
                         if not closed else validity_note + f"{fewest} for the item with the fewest")
        ready = assessed and composite is not None and composite_ready[i]
        row["composite_index"] = float(composite[i]) if ready else None
        row["composite_primary"] = names[primary[i]] if ready else None
        row["notes"] = "; ".join(notes)
        out.append(row)
    return out


def period_for(day: date, stored_through: date | None, today: date) -> tuple[str, date]:
    """Which statistics a day's run refreshes: the closed year once the year is over (the run of its
    last day, or any later run of one of its days), else the year to date through the later of the
    day and what is stored (a re-run of an earlier day does not shorten it)."""
    end = date(day.year, 12, 31)
    if day >= end or today > end:
        return PERIOD_YEAR, end
    return PERIOD_YEAR_TO_DATE, max(day, stored_through or day)


# The version of the daily computation itself (station_day_values: daily.hourly_grid, the excluded
# flags, air_quality.daily_statistics, daily.air_day_values): part of every stored day's basis, so
# BUMP IT whenever an upgrade changes how a station-day's values are computed; the next refresh of
# each year then computes every stored day again (the basis covers the inputs, not the code).
STATION_DAY_METHOD = "1"


def station_day_basis(day: date, stations: list[str], assessable) -> str:
    """What a day's stored daily values were computed under: the computation's version
    (STATION_DAY_METHOD), the QC flags assessed, the registry's air stations (which
    station_days_of_year keeps) and the day's validity rules (air_validity.csv version and its
    numbers). A day stored under another basis is computed again."""
    return _basis(day, _stations_key(stations), assessable)


def _stations_key(stations: list[str]) -> str:
    return hashlib.sha1("\n".join(sorted(stations)).encode()).hexdigest()[:16]


def _basis(day: date, stations_key: str, assessable) -> str:
    start = standards.version_start("air_validity", day)
    rules = ",".join(f"{k}={v}" for k, v in sorted(air_quality.validity(day).items()))
    return (f"method={STATION_DAY_METHOD}|flags={';'.join(sorted(assessable))}|stations={stations_key}"
            f"|air_validity@{start.isoformat()}:{rules}")


def station_days_of_year(engine, first: date, last: date, assessable=ASSESSABLE_FLAGS, changed=()) -> pd.DataFrame:
    """What stored_station_days(engine, first, last, assessable) gives, row for row, from the stored
    daily values (table air_station_days, 365 × stations at most) instead of the hourly observations:
    the days in `changed` (their observations changed in this run), and any day stored under
    another basis or not at all (a warehouse from before migration 0022: its first refresh fills it),
    are first computed from their observations with stored_station_days and stored (the caller
    holds the year's `air-annual` lock: refresh_year). The callers pass
    the days they have just assessed: every path that changes observations assesses the days it
    changed and then refreshes their years (nightly.assess, batches.assess_days: the archive path,
    `envmon reassess`, stewardship's invalidate/flag/restore, payload revisions; history.backfill)."""
    from pipelines import clock
    from warehouse import air_annual_store

    stations = list(registry.air_stations().index)
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    key = _stations_key(stations)
    bases = {day: _basis(day, key, assessable) for day in days}
    stored = air_annual_store.station_day_bases(engine, first, last)
    changed = set(changed)
    stale = [day for day in days if day in changed or stored.get(day) != bases[day]]
    if stale:
        parts = [stored_station_days(engine, run[0], run[-1], assessable) for run in _runs(stale)]
        fresh = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        air_annual_store.replace_station_days(engine, {day: bases[day] for day in stale}, fresh, clock.now())
    frame = air_annual_store.station_days_between(engine, first, last)
    # stored_station_days' rows and order: the registry's stations, day by day in registry order
    position = pd.Index(stations).get_indexer(frame["station_id"])
    frame = frame.assign(_position=position)[position >= 0]
    frame = frame.sort_values(["day", "_position"], kind="stable").drop(columns="_position")
    return frame.reset_index(drop=True)[["day", "station_id", *DAY_COLUMNS]]


def store_station_days(engine, observations: pd.DataFrame, days, assessable=ASSESSABLE_FLAGS) -> None:
    """Store the daily values of `days` (table air_station_days) from `observations`, every stored
    observation of those days (with partition_day), as a caller that has just read them holds them
    (batches.assess_days): what station_days_of_year would compute from them and store, under the
    same basis (the flags assessed, the registry's air stations, each day's validity rules), so a
    refresh then reads them instead of the days' observations again. A day's values need only its
    own hours (daily.hourly_grid), so any set of days gives each day's rows.

    Written under each year's `air-annual` lock, as refresh_year writes: every write of
    air_station_days is under it, so a refresh that read a day's observations before a revision
    cannot write that older read after this one's newer values (nor two replaces of one day collide
    on its primary key). The caller reads `observations` under the month's `assess` lock and holds
    it until this returns (lock order month -> year; no path takes a month's `assess` lock while
    holding a year's), so of two stores of a day the later one holds the later read."""
    from pipelines import clock
    from warehouse import air_annual_store, db

    stations = list(registry.air_stations().index)
    days = sorted(set(days))
    key = _stations_key(stations)
    usable = observations[observations["qc_flag"].isin(assessable)] if len(observations) else observations
    for year in sorted({day.year for day in days}):
        of_year = [day for day in days if day.year == year]
        fresh = station_day_values(usable, stations, of_year)
        with db.day_lock(engine, "air-annual", date(year, 1, 1)):
            air_annual_store.replace_station_days(engine, {day: _basis(day, key, assessable) for day in of_year},
                                                  fresh, clock.now())


def _runs(days: list[date]) -> list[list[date]]:
    """`days` (sorted) as runs of consecutive days."""
    runs: list[list[date]] = []
    for day in days:
        if runs and day - runs[-1][-1] == timedelta(days=1):
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


def refresh_year(engine, day: date, assessable=ASSESSABLE_FLAGS, today: date | None = None, changed=None) -> dict:
    """The pipeline's step: recompute and store the statistics of `day`'s year (year to date, or
    the closed year), idempotently (the year's rows replaced as a whole under the year's lock), from
    the stations' stored daily values (station_days_of_year), `changed` (default: `day`) the days
    whose observations the run has changed, computed again from them first."""
    from pipelines import clock
    from warehouse import air_annual_store, db

    year = day.year
    changed = {day} if changed is None else set(changed)
    with db.day_lock(engine, "air-annual", date(year, 1, 1)):
        period, through = period_for(day, air_annual_store.stored_through(engine, year), today or clock.today())
        days = station_days_of_year(engine, date(year, 1, 1), through, assessable, changed)
        rows = year_statistics(days, year, through)
        air_annual_store.replace_year(engine, year, period, rows)
    cities = [r for r in rows if r["scope"] == "city"]
    return {"year": year, "period": period, "through": through.isoformat(),
            "cities_with_data": sum(r["status"] != "no data" for r in cities),
            "cities_assessed": sum(r["status"] == "assessed" for r in cities)}


def refresh_years(engine, days, assessable=ASSESSABLE_FLAGS, changed=None) -> list[dict]:
    """refresh_year for each year among `days` (its latest day), every one of `changed` (default:
    all of `days`, the days the caller has just assessed) computed again from its observations:
    what `envmon reassess`, the archive path and the history backfill call after assessing the days
    they touched. The archive path stores its days' values itself (store_station_days, from the
    observations it has just read) and passes changed=()."""
    latest: dict[int, date] = {}
    for day in days:
        latest[day.year] = max(day, latest.get(day.year, day))
    changed = set(days if changed is None else changed)
    return [refresh_year(engine, day, assessable, changed={d for d in changed if d.year == year})
            for year, day in sorted(latest.items())]
