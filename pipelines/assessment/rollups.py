"""Daily and monthly rollups, recomputed for exactly the days (and their months) a run touched,
so the dashboards read means, counts and completeness without scanning raw observations."""
from __future__ import annotations

from datetime import date

import pandas as pd

from pipelines.quality import censoring
from pipelines.observations import ASSESSABLE_FLAGS

FLAGGED = ("suspect", "fail")
COLUMNS = ["station_id", "parameter", "averaging_period", "period", "period_start", "mean", "minimum", "maximum",
           "values_assessable", "values_flagged", "values_censored", "days_with_data", "detection_limit",
           "reported_mean", "censoring_method"]


def _with_reporting(out: pd.DataFrame) -> pd.DataFrame:
    """The mean as reported ('< limit' below the detection limit) and the censoring method, where
    the mean holds censored values (detection_limit: the highest of their limits)."""
    censored = out["detection_limit"].notna()  # censored values are in the mean
    out["reported_mean"] = [censoring.reported_mean(m, limit) for m, limit in zip(out["mean"], out["detection_limit"])]
    out["censoring_method"] = pd.Series(censoring.method_description(), index=out.index).where(censored)
    return out[COLUMNS]


def daily(observations: pd.DataFrame, day: date, assessable=ASSESSABLE_FLAGS) -> pd.DataFrame:
    frame = observations[observations["value"].notna()].copy()
    if frame.empty:
        return pd.DataFrame()
    censored = censoring.is_censored(frame)
    frame["counted"] = censoring.counted_values(frame)
    frame["censoring_limit"] = censoring.censoring_limits(frame)
    frame["is_assessable"] = frame["qc_flag"].isin(assessable)
    frame["is_flagged"] = frame["qc_flag"].isin(FLAGGED)
    frame["is_censored"] = censored
    usable = frame[frame["is_assessable"]]
    keys = ["station_id", "parameter", "averaging_period"]
    stats = usable.groupby(keys).agg(mean=("counted", "mean"), min=("counted", "min"), max=("counted", "max"),
                                     detection_limit=("censoring_limit", "max"))
    counts = frame.groupby(keys)[["is_assessable", "is_flagged", "is_censored"]].sum()
    out = counts.join(stats, how="left").reset_index()
    return _with_reporting(pd.DataFrame({
        "station_id": out["station_id"], "parameter": out["parameter"], "averaging_period": out["averaging_period"],
        "period": "day", "period_start": day, "mean": out["mean"], "minimum": out["min"], "maximum": out["max"],
        "values_assessable": out["is_assessable"].astype(int), "values_flagged": out["is_flagged"].astype(int),
        "values_censored": out["is_censored"].astype(int),
        "days_with_data": (out["is_assessable"] > 0).astype(int), "detection_limit": out["detection_limit"]}))


def monthly(days: pd.DataFrame, month_start: date) -> pd.DataFrame:
    """A month from its daily rollups: the mean weighted by each day's assessable values."""
    if days.empty:
        return pd.DataFrame()
    days = days.assign(weighted=days["mean"] * days["values_assessable"])
    keys = ["station_id", "parameter", "averaging_period"]
    grouped = days.groupby(keys)
    out = grouped[["weighted", "values_assessable", "values_flagged", "values_censored", "days_with_data"]].sum()
    out["mean"] = out["weighted"] / out["values_assessable"].where(out["values_assessable"] > 0)
    out["minimum"] = grouped["minimum"].min()
    out["maximum"] = grouped["maximum"].max()
    out["detection_limit"] = grouped["detection_limit"].max() if "detection_limit" in days else float("nan")
    return _with_reporting(out.reset_index().assign(period="month", period_start=month_start))


# --- air: good and exceedance days over a span ------------------------------------------------

def air_days(day_assessments: pd.DataFrame, first: date, last: date) -> pd.DataFrame:
    """Good days (优良天) and exceedance days of each air station from `first` to `last`, from its
    stored day assessments: each day counts under the rules of its own day (period_changeover.csv,
    air/month: 'split'), as its day assessment was made, so a month spanning a change (the days
    around 2026-03-01) is split, and `rule_versions` says how many days each version holds."""
    from pipelines.reference import standards

    method = standards.changeover("air", "month")
    if method != "split":
        raise ValueError(f"period_changeover.csv: air/month method {method!r} is not implemented (only 'split')")
    columns = ["station_id", "first_day", "last_day", "days_assessed", "good_days", "exceedance_days", "good_share",
               "rule_versions", "standards"]
    air = day_assessments[(day_assessments["domain"] == "air") & (day_assessments["period"] == "day")
                          & (day_assessments["period_start"] >= first) & (day_assessments["period_start"] <= last)
                          & day_assessments["aqi"].notna()]
    rows = []
    for station_id, days in air.groupby("station_id"):
        good = int((days["is_compliant"] == True).sum())  # noqa: E712 - a nullable column
        days = days.sort_values("period_start")
        versions = days["rule_version"].astype(object).fillna("(not recorded)").value_counts(sort=False)  # oldest first
        rows.append({"station_id": station_id, "first_day": first, "last_day": last, "days_assessed": len(days),
                     "good_days": good, "exceedance_days": len(days) - good, "good_share": good / len(days),
                     "rule_versions": "; ".join(f"{version}: {n}" for version, n in versions.items()),
                     "standards": "; ".join(dict.fromkeys(days["standard"]))})
    return pd.DataFrame(rows, columns=columns)


DAY_KEY_SEPARATOR = "\x1f"  # between a station id and its day in day-keyed ids (never in an id)


def daily_many(observations: pd.DataFrame, assessable=ASSESSABLE_FLAGS) -> pd.DataFrame:
    """`daily` for every day of `observations` (with partition_day) in one call: the day rollups
    each day's own call gives, one row per station, parameter, averaging period and day."""
    if observations.empty:
        return pd.DataFrame(columns=COLUMNS)
    from pipelines.observations import lookup

    days = lookup(observations["partition_day"], date.isoformat).astype(str)
    keyed = observations.assign(station_id=observations["station_id"].astype(str) + DAY_KEY_SEPARATOR + days)
    out = daily(keyed, date.min, assessable)
    if out.empty:
        return pd.DataFrame(columns=COLUMNS)
    codes, distinct = pd.factorize(out["station_id"])
    parts = [key.split(DAY_KEY_SEPARATOR) for key in distinct]
    stations = pd.Series([p[0] for p in parts], dtype=object).to_numpy()[codes]
    starts = pd.Series([date.fromisoformat(p[1]) for p in parts], dtype=object).to_numpy()[codes]
    return out.assign(station_id=stations, period_start=starts)[COLUMNS].reset_index(drop=True)
