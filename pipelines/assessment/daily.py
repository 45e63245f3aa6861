"""Assessment of sections and points by the single-factor method.

Surface water: GB 3838-2002 with the 2011 assessment method (地表水环境质量评价办法(试行)):
the class of a section is the worst class among the assessment indicators measured; it
complies when that class is no worse than its target. Seawater: GB 3097-1997, the same way.
The nightly run passes only the values whose QC flag the bureau assesses (ENVMON_ASSESSABLE_FLAGS).
The rules themselves are in pipelines.assessment.surface_water and pipelines.assessment.seawater: one implementation,
shared with `envmon classify`.
"""
from __future__ import annotations

import json
from datetime import date

import pandas as pd

from pipelines.assessment import air_quality, seawater, surface_water
from pipelines.quality import censoring
from pipelines.reference import registry, standards
from pipelines.reference.targets import Target, target_in_force
from pipelines.observations import BUREAU_TZ

SURFACE_WATER_STANDARD = "GB 3838-2002; 地表水环境质量评价办法(试行) 2011"
SEAWATER_STANDARD = "GB 3097-1997"
# Air days name the standards of their own day (standards.rule_version("air", day).label): HJ 633-2012;
# GB 3095-2012; HJ 663-2013 before 2026-03-01, HJ 633—2026; GB 3095—2026 phase 1 (transitional);
# HJ 663—2026 from then on. Every assessment row records its rule version's id in `rule_version`.


# A section whose target is unset on a day (issue 23): its class is computed, it has no verdict, and a
# classed day reads 目标未定 (pipelines.display.STATUS_WORD). Never a default class.
TARGET_UNSET = "target unset"

MANUAL_SOURCES = ("lab", "coastal")
# The functions here leave out missing values only; which QC flags are assessed is chosen by the
# caller (the nightly run filters to ENVMON_ASSESSABLE_FLAGS, default good and not_evaluated).
EXCLUDED_FLAGS = ("missing",)  # manual sampling: a single sample is classed


def daily_means(observations: pd.DataFrame) -> pd.DataFrame:
    """Mean of the assessable values of each station and parameter, with their count. A value
    below its detection limit counts as half the limit (pipelines/reference/data/censoring.csv)."""
    usable = observations[observations["value"].notna() & ~observations["qc_flag"].isin(EXCLUDED_FLAGS)]
    usable = usable.assign(value=censoring.counted_values(usable))
    return usable.groupby(["station_id", "parameter"])["value"].agg(["mean", "count"]).reset_index()


def surface_water_daily_means(observations: pd.DataFrame) -> pd.DataFrame:
    """Day means that meet the day rule of their kind of data: automatic readings need 4 a day,
    a manual sample counts alone. Where both exist, automatic data are used in preference
    (环办监测函〔2020〕82号; standards.md §2.1)."""
    if "source" not in observations.columns:
        observations = observations.assign(source="")
    manual = observations["source"].isin(MANUAL_SOURCES)
    rules = surface_water.completeness()["min_values"]
    automatic = daily_means(observations[~manual])
    automatic = automatic[automatic["count"] >= int(rules["day"])]
    sampled = daily_means(observations[manual])
    sampled = sampled[sampled["count"] >= int(rules["day_manual"])]
    sampled = sampled.merge(automatic[["station_id", "parameter"]], how="left", indicator=True)
    sampled = sampled[sampled["_merge"] == "left_only"].drop(columns="_merge")
    return pd.concat([automatic, sampled], ignore_index=True)


def with_target(row: dict, target: Target) -> dict:
    """A section's row (day or month) with the target it was judged against: its class and status
    (official, assumed, unset). Unset: no verdict, and a classed period reads 'target unset'."""
    row = {**row, "target_class": target.target_class, "target_status": target.status}
    if not target.is_set:
        row["is_compliant"] = None
        if row["status"] == "assessed":
            row["status"] = TARGET_UNSET
    return row


def _assessment_row(station_id, day, domain, standard, verdict, target, is_compliant, grade,
                    values_used, is_cross_boundary, status: str | None = None, rule_version: str | None = None) -> dict:
    return {
        "station_id": station_id,
        "period": "day",
        "period_start": day,
        "domain": domain,
        "standard": standard,
        "water_class": verdict.water_class,
        "target_class": target,
        "is_compliant": is_compliant,
        "grade": grade,
        "indicators_assessed": ";".join(sorted(verdict.parameter_classes)),
        "failing_parameters": json.dumps([f.as_dict() if hasattr(f, "as_dict") else {"parameter": f}
                                          for f in verdict.failing], ensure_ascii=False),
        "values_used": int(values_used),
        "is_cross_boundary": bool(is_cross_boundary),
        "status": status or ("assessed" if verdict.is_assessed else "insufficient data"),
        "aqi": None,
        "primary_pollutants": None,
        "rule_version": rule_version or standards.rule_version(domain, day).id,   # the day's, found once a day
        "target_status": None,
    }


def surface_water_day_row(section_id: str, section, day: date, values: dict, used_counts: dict,
                          verdict: surface_water.Verdict | None = None, target: Target | None = None) -> dict:
    """One section-day: classed on the indicators with a valid day value; 'indicators incomplete'
    when one its method requires has none (never compliant; a failure of those it has stays one),
    'insufficient data' when none could be classed (surface_water.status_of). `verdict` and `target`:
    the day's, when the caller classed many section-days at once (assess_surface_water_days)."""
    target = target or target_in_force(section_id, day)   # the target in force that day, never a default
    water_body_type = registry.water_body_type(section_id)
    if verdict is None:
        verdict = surface_water.classify(values, water_body_type, target.target_class, at=day)
    status, _ = surface_water.status_of(verdict, values, water_body_type, at=day)
    used = int(sum(n for p, n in used_counts.items() if p in verdict.parameter_classes))
    is_compliant = surface_water.verdict_under(status, verdict.is_compliant)
    row = with_target(_assessment_row(section_id, day, "surface_water", SURFACE_WATER_STANDARD, verdict,
                                      target.target_class, is_compliant, verdict.grade, used,
                                      section["is_cross_boundary"], status), target)
    if section["is_drinking_water_source"]:
        _add_drinking_water_items(row, values)
    return row


def assess_surface_water_day(observations: pd.DataFrame, day: date) -> list[dict]:
    """One row per registry surface-water section for the day: assessed, 'indicators incomplete'
    or 'insufficient data'."""
    # an indicator with fewer readings than the day rule does not enter the day's class
    means = surface_water_daily_means(observations)
    rows = []
    for section_id, section in registry.water_sections(day).iterrows():   # the registry of that day
        mine = means[means["station_id"] == section_id]
        rows.append(surface_water_day_row(section_id, section, day, dict(zip(mine["parameter"], mine["mean"])),
                                          dict(zip(mine["parameter"], mine["count"]))))
    return rows


def _add_drinking_water_items(row: dict, values: dict, over: list[dict] | None = None) -> None:
    """Drinking-water sources answer for the GB 3838 Table 2 items as well: an item over its
    limit fails the day, whatever the class. `over`: the day's exceedances, where the caller found
    them (assess_surface_water_days)."""
    over = surface_water.drinking_water_exceedances(values) if over is None else over
    if not over:
        return
    failing = json.loads(row["failing_parameters"]) + [
        {"parameter": item["parameter"], "value": round(item["value"], 6), "class": "GB 3838 Table 2",
         "multiple_vs_target": round(item["multiple"], 3), "multiple_vs_class_iii": None} for item in over]
    row["failing_parameters"] = json.dumps(failing, ensure_ascii=False)
    # a Table 2 item over its limit fails the day, an incomplete day too (a failure on what is present
    # stays one: surface_water.verdict_under); a day with nothing classed, or no target, has no verdict
    judged = row["is_compliant"] is not None or (row["status"] == surface_water.INDICATORS_INCOMPLETE
                                                 and bool(row["target_class"]))
    row["is_compliant"] = False if judged else None
    row["standard"] += "; GB 3838-2002 Table 2"


def seawater_day_row(point_id: str, point, day: date, values: dict, used_counts: dict) -> dict:
    """One coastal point's day against the target in force that day (GB 3097)."""
    target = target_in_force(point_id, day)
    verdict = seawater.classify(values, target.target_class, at=day)
    used = int(sum(n for p, n in used_counts.items() if p in verdict.parameter_classes))
    return with_target(_assessment_row(point_id, day, "seawater", SEAWATER_STANDARD, verdict, target.target_class,
                                       verdict.is_compliant, None, used, point["is_cross_boundary"]), target)


def assess_seawater_day(observations: pd.DataFrame, day: date) -> list[dict]:
    means = daily_means(observations)
    rows = []
    for point_id, point in registry.sea_points(day).iterrows():
        mine = means[means["station_id"] == point_id]
        rows.append(seawater_day_row(point_id, point, day, dict(zip(mine["parameter"], mine["mean"])),
                                     dict(zip(mine["parameter"], mine["count"]))))
    return rows


def _hourly_by_pollutant(observations: pd.DataFrame, station_id: str, day: date) -> dict[str, pd.Series]:
    """The day's 24 hour-end slots (01:00 … 24:00 Beijing) of each pollutant, NaN where missing."""
    hours = pd.date_range(pd.Timestamp(day, tz=BUREAU_TZ) + pd.Timedelta(hours=1), periods=24, freq="h")
    mine = observations[(observations["station_id"] == station_id) & (observations["averaging_period"] == "PT1H")
                        & ~observations["qc_flag"].isin(EXCLUDED_FLAGS)]
    series = {}
    for code in air_quality.POLLUTANTS:
        rows = mine[mine["parameter"] == code]
        index = pd.to_datetime(rows["observed_at"], utc=True).dt.tz_convert(BUREAU_TZ)
        series[code] = pd.Series(rows["value"].to_numpy(dtype=float), index=index).groupby(level=0).last().reindex(hours)
    return series


def assess_air_day(observations: pd.DataFrame, day: date) -> list[dict]:
    """Daily AQI per air station from its hourly values: 24-h means (≥ 20 hours), the O3 daily
    maximum 1-h and 8-h values; 'insufficient data' when no pollutant is valid."""
    # the set-based path for one day: the day's grid slots each reading as _hourly_by_pollutant does
    return assess_air_days(observations.assign(partition_day=day), [day])


def air_day_values(hourly: dict[str, pd.Series], day: date | None = None) -> dict[str, float | None]:
    """A station's daily values from its 24 hourly series: 24-h means (≥ 20 hours), the O3 daily
    maximum 1-h and 8-h values; None where a value is not valid. (The monthly bulletin averages
    them over a city's stations.) Pass the day: the validity rules are those in force on it
    (air_quality.daily_values); without it, today's."""
    return air_quality.daily_values(hourly, day)


def air_day_row(station_id: str, day: date, hourly: dict[str, pd.Series], values_used: int) -> dict:
    """One station's daily assessment from its 24 hourly series (one per pollutant code), under the
    rules in force on that day (period_changeover.csv, air/day): validity, breakpoints, good day."""
    values = air_quality.daily_values(hourly, day)
    result = air_quality.daily_aqi({k: v for k, v in values.items() if v is not None}, day)
    return _air_row(station_id, day, result, values_used)


def _air_row(station_id: str, day: date, result: air_quality.AqiResult, values_used: int) -> dict:
    assessed = result.aqi is not None
    return {
        "station_id": station_id, "period": "day", "period_start": day, "domain": "air",
        "standard": result.standard, "water_class": None, "target_class": None,
        "is_compliant": air_quality.is_good_day(result.aqi, day),
        "grade": result.category, "indicators_assessed": ";".join(sorted(result.sub_indices)),
        "failing_parameters": json.dumps([{"parameter": p, "iaqi": result.sub_indices[p]}
                                          for p in result.exceeding_pollutants]),
        "values_used": values_used,
        "is_cross_boundary": False, "status": "assessed" if assessed else "insufficient data",
        "aqi": result.aqi, "primary_pollutants": ";".join(result.primary_pollutants),
        "rule_version": result.rule_version, "target_status": None,   # an AQI day: no section target
    }


# --- many days at once: the same rows as the one-day functions above, from one frame ----------
# `envmon ingest` of an archive (pipelines/ingest/batches.py) and `envmon reassess` assess every day
# they touched set-based: one call per domain over a frame of many days (with partition_day), not
# one query and one pass per day. Each function gives, for each of `days`, exactly the rows its
# one-day counterpart gives for that day's observations (tests/test_archive_ingest.py).

# Between a station id and its day in the keys handed to the one-day grouping: never in an id.
DAY_KEY_SEPARATOR = "\x1f"


def _day_keyed(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with station_id replaced by station and day: a rule that groups by station then
    groups by station and day."""
    from pipelines.observations import lookup

    days = lookup(frame["partition_day"], date.isoformat)
    return frame.assign(station_id=frame["station_id"].astype(str) + DAY_KEY_SEPARATOR + days.astype(str))


def _station_day_means(means: pd.DataFrame) -> dict[tuple[str, date], tuple[dict, dict]]:
    """(station, day) → ({parameter: mean}, {parameter: count}) from a day-keyed means table."""
    out: dict[tuple[str, date], tuple[dict, dict]] = {}
    for key, parameter, mean, count in zip(means["station_id"].tolist(), means["parameter"].tolist(),
                                           means["mean"].tolist(), means["count"].tolist()):
        station, day = key.split(DAY_KEY_SEPARATOR)
        values, counts = out.setdefault((station, date.fromisoformat(day)), ({}, {}))
        values[parameter], counts[parameter] = mean, count
    return out


# The rule tables a surface-water section-day reads (its classes, the indicators it requires, its rule
# version): days on which all of them have the same version are judged together.
SURFACE_WATER_DAY_TABLES = (*standards.DOMAIN_TABLES["surface_water"], "required_indicators")


def _registry_days(frames: list[tuple[date, pd.DataFrame]]) -> tuple[list[tuple[str, date]], dict[str, list]]:
    """The (id, day) of each station of each day's registry frame, in the one-day order (the days in
    order, each day's registry in its order), and the columns a day row reads, as plain lists."""
    keys = [(station_id, day) for day, frame in frames for station_id in frame.index]
    columns = {column: [value for _, frame in frames for value in frame[column].tolist()]
               for column in ("is_cross_boundary", "is_drinking_water_source")}
    return keys, columns


def _registries(days, of_day) -> list[tuple[date, pd.DataFrame]]:
    """(day, of_day(day)) for each day: registry.water_sections or registry.sea_points, asked once per
    registry frame (registry.sections gives the same frame for the days between two changes of the
    registry; filtering it again for each of 113 days cost a second)."""
    seen: dict[int, tuple[pd.DataFrame, pd.DataFrame]] = {}   # id → (the frame, kept alive; its filtered rows)
    out = []
    for day in days:
        whole = registry.sections(day)
        if id(whole) not in seen:
            seen[id(whole)] = (whole, of_day(day))
        out.append((day, seen[id(whole)][1]))
    return out


def _means_of_days(observations: pd.DataFrame, ever: set, means_of) -> dict:
    mine = observations[observations["station_id"].isin(ever)]
    return _station_day_means(means_of(_day_keyed(mine)) if len(mine) else
                              pd.DataFrame(columns=["station_id", "parameter", "mean", "count"]))


def assess_surface_water_days(observations: pd.DataFrame, days) -> list[dict]:
    """assess_surface_water_day for each of `days` (observations with partition_day), set-based
    (issue 27): the section-days of all the days at once, in the one-day order. The days are grouped
    by the rules in force on each (standards.rule_groups over SURFACE_WATER_DAY_TABLES); every
    section-day of a group is classed in one call (surface_water.classify_many), and what a row reads
    besides its own values is looked up once per distinct input: a section's water-body type, a
    group's rule version, the status (surface_water.status_of) of each kind of day (classed or not,
    the required indicators it has), the grade of a class, the Table 2 exceedances of a drinking-water
    source's Table 2 values. Each row is surface_water_day_row's for that section-day
    (tests/test_water_days_set_based.py)."""
    days = sorted(days)
    frames = _registries(days, registry.water_sections)   # the registry of each day
    keys, columns = _registry_days(frames)
    ever = {station_id for station_id, _ in keys}
    means = _means_of_days(observations, ever, surface_water_daily_means)
    found = [means.get(key, ({}, {})) for key in keys]
    types = {station_id: registry.water_body_type(station_id) for station_id in ever}
    targets = [target_in_force(station_id, day) for station_id, day in keys]   # the target in force that day
    groups, rule_days = standards.rule_groups(SURFACE_WATER_DAY_TABLES, days)
    group_of = dict(zip(days, groups))
    verdicts: dict[int, surface_water.Verdict] = {}
    for g, at in enumerate(rule_days):
        members = [n for n, (_, day) in enumerate(keys) if group_of[day] == g]
        row_keys, codes, values = [], [], []
        for n in members:
            row_keys += [n] * len(found[n][0])
            codes += list(found[n][0])
            values += list(found[n][0].values())
        verdicts.update(surface_water.classify_many(row_keys, codes, values,
                                                    {n: types[keys[n][0]] for n in members},
                                                    {n: targets[n].target_class for n in members}, at=at))
    versions = [standards.rule_version("surface_water", at).id for at in rule_days]
    required = {}
    statuses: dict[tuple, tuple] = {}
    grades: dict[str | None, str | None] = {}
    table_2 = tuple(surface_water.drinking_water_limits().index)
    exceedances: dict[tuple, list] = {}
    rows = []
    for n, ((section_id, day), (values, counts), target) in enumerate(zip(keys, found, targets)):
        g, water_body_type, verdict = group_of[day], types[section_id], verdicts[n]
        if (water_body_type, g) not in required:
            required[(water_body_type, g)] = surface_water.required_indicators(water_body_type, rule_days[g])
        present = {code: values[code] for code in required[(water_body_type, g)] if code in values}
        kind = (verdict.is_assessed, water_body_type, g, tuple(present))
        if kind not in statuses:
            statuses[kind] = surface_water.status_of(verdict, present, water_body_type, at=rule_days[g])
        status, _ = statuses[kind]
        if verdict.water_class not in grades:
            grades[verdict.water_class] = verdict.grade
        used = int(sum(count for p, count in counts.items() if p in verdict.parameter_classes))
        is_compliant = surface_water.verdict_under(status, verdict.is_compliant)
        row = with_target(_assessment_row(section_id, day, "surface_water", SURFACE_WATER_STANDARD, verdict,
                                          target.target_class, is_compliant, grades[verdict.water_class], used,
                                          columns["is_cross_boundary"][n], status, versions[g]), target)
        if columns["is_drinking_water_source"][n]:
            items = tuple((code, values[code]) for code in table_2 if code in values)
            if items not in exceedances:
                exceedances[items] = surface_water.drinking_water_exceedances(dict(items))
            _add_drinking_water_items(row, values, exceedances[items])
        rows.append(row)
    return rows


def assess_seawater_days(observations: pd.DataFrame, days) -> list[dict]:
    """assess_seawater_day for each of `days` (observations with partition_day), set-based (issue
    27): the point-days of all the days at once, in the one-day order, the days grouped by the rules
    in force on each (standards.rule_groups over the seawater tables), each distinct point-day
    (its values, its target class, its rules) classed once (seawater.classify). Each row is
    seawater_day_row's for that point-day (tests/test_water_days_set_based.py)."""
    days = sorted(days)
    frames = _registries(days, registry.sea_points)
    keys, columns = _registry_days(frames)
    means = _means_of_days(observations, {point_id for point_id, _ in keys}, daily_means)
    groups, rule_days = standards.rule_groups(standards.DOMAIN_TABLES["seawater"], days)
    group_of = dict(zip(days, groups))
    versions = [standards.rule_version("seawater", at).id for at in rule_days]
    verdicts: dict[tuple, seawater.Verdict] = {}
    rows = []
    for n, (point_id, day) in enumerate(keys):
        values, counts = means.get((point_id, day), ({}, {}))
        target, g = target_in_force(point_id, day), group_of[day]
        kind = (tuple(values.items()), target.target_class, g)
        if kind not in verdicts:
            verdicts[kind] = seawater.classify(values, target.target_class, at=rule_days[g])
        verdict = verdicts[kind]
        used = int(sum(count for p, count in counts.items() if p in verdict.parameter_classes))
        rows.append(with_target(_assessment_row(point_id, day, "seawater", SEAWATER_STANDARD, verdict,
                                                target.target_class, verdict.is_compliant, None, used,
                                                columns["is_cross_boundary"][n], rule_version=versions[g]), target))
    return rows


def hourly_grid(observations: pd.DataFrame, stations: list[str], days: list[date]):
    """values[station, day, pollutant, slot] as _hourly_by_pollutant gives them for each station
    and day (a slot's last value in frame order that is not NaN, as groupby(...).last() keeps;
    NaN where none), for all of them at once."""
    import numpy as np

    shape = (len(stations), len(days), len(air_quality.POLLUTANTS), 24)
    grid = np.full(int(np.prod(shape)), np.nan)
    rows = observations[(observations["averaging_period"] == "PT1H")
                        & ~observations["qc_flag"].isin(EXCLUDED_FLAGS) & observations["value"].notna()]
    if rows.empty:
        return grid.reshape(shape)
    station_index = pd.Index(stations).get_indexer(rows["station_id"])
    day_index = pd.Index(days).get_indexer(rows["partition_day"])
    pollutant_index = pd.Index(air_quality.POLLUTANTS).get_indexer(rows["parameter"])
    first_slots = np.array([(pd.Timestamp(day, tz=BUREAU_TZ) + pd.Timedelta(hours=1)).value // 1000 for day in days],
                           dtype="int64")  # µs since the epoch of each day's 01:00
    observed = pd.to_datetime(rows["observed_at"], utc=True).dt.tz_localize(None).astype("datetime64[us]")
    offset = observed.to_numpy().view("int64") - first_slots[np.maximum(day_index, 0)]
    hours, remainder = np.divmod(offset, 3_600_000_000)
    keep = (station_index >= 0) & (day_index >= 0) & (pollutant_index >= 0) & (remainder == 0) \
        & (hours >= 0) & (hours < 24)
    cells = np.ravel_multi_index((station_index[keep], day_index[keep], pollutant_index[keep],
                                  hours[keep].astype(int)), shape)
    last = ~pd.Series(cells).duplicated(keep="last").to_numpy()
    grid[cells[last]] = rows["value"].to_numpy(dtype=float)[keep][last]
    return grid.reshape(shape)


def assess_air_days(observations: pd.DataFrame, days) -> list[dict]:
    """assess_air_day for each of `days` (observations with partition_day), set-based: every
    station's hourly series of every day in one grid (hourly_grid, slotted as _hourly_by_pollutant
    slots them), the daily statistics of all station-days at once (air_quality.daily_statistics),
    then the AQI of each day's stations together (air_quality.daily_aqis)."""
    import numpy as np

    days = sorted(days)
    stations = list(dict.fromkeys(sid for day in days for sid in registry.air_stations(day).index))
    grid = hourly_grid(observations, stations, days)
    present = (~np.isnan(grid)).sum(axis=(2, 3))
    statistics = air_quality.daily_statistics(grid, days)
    rows = []
    for d, day in enumerate(days):
        in_registry = set(registry.air_stations(day).index)
        mine = [s for s, station_id in enumerate(stations) if station_id in in_registry]
        results = air_quality.daily_aqis({code: column[mine, d] for code, column in statistics.items()}, day)
        rows += [_air_row(stations[s], day, result, int(present[s, d])) for s, result in zip(mine, results)]
    return rows
