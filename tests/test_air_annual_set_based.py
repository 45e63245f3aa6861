"""The HJ 663 annual statistics of every station and city at once (issue 27): air_annual.year_statistics
(set-based, statistics_of_many) gives, row for row and value for value, what the one-site
reference gives (statistics_of → air_quality.annual_assessment for each station and city alone, the
loop year_statistics ran before, kept below): the same percentiles (HJ 663 Annex A), means, valid-day
counts, GB 3095 Table 4 validity, per-version rules and notes, statuses, composite index and ranks.
On the real Beibu sample (March 2026, and its days laid over 2025 and January–February 2026 so the
rule change of 2026-03-01 falls inside the year) and on simulated national stations with gaps, short
years, years to date, days at the limits, and a year whose limits are not known (2031: refused)."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from pipelines.assessment import air_annual, air_quality
from pipelines.reference import registry
from tests.conftest import real_data

BEIBU_MARCH_2026 = "cnemc-air/beibu6-hourly-2026-03-01-to-03-28.csv"


def _one_by_one(station_days_frame: pd.DataFrame, year: int, through: date) -> list[dict]:
    """year_statistics as it was before issue 27's set-based statistics: statistics_of per station
    and per city (its days air_quality.city_daily_values of its stations' rows)."""
    stations = registry.air_stations()
    frame = station_days_frame[[d.year == year and d <= through for d in station_days_frame["day"]]] \
        if len(station_days_frame) else station_days_frame
    empty = air_annual._indexed(pd.DataFrame(columns=["day", *air_quality.ANNUAL_COLUMNS]))
    rules = air_annual.year_rules(year)
    by_station = dict(tuple(frame.groupby("station_id", sort=False))) if len(frame) else {}
    rows = []
    for station_id, station in stations.iterrows():
        days = air_annual._indexed(by_station[station_id]) if station_id in by_station else empty
        rows.append({"scope": "station", "site_id": station_id, "city": station["city"],
                     **air_annual.statistics_of(days, year, through, rules), "city_rank": None, "cities_ranked": None})
    city_rows = []
    for city in dict.fromkeys(stations["city"]):
        members = [by_station[s] for s in stations.index[stations["city"] == city] if s in by_station]
        mine = pd.concat(members).sort_index() if members else frame.iloc[0:0]
        days = air_quality.city_daily_values(mine) if len(mine) else empty
        city_rows.append({"scope": "city", "site_id": city, "city": city,
                          **air_annual.statistics_of(days, year, through, rules)})
    ranks = air_quality.rank_by_composite_index({row["site_id"]: row["composite_index"] for row in city_rows})
    ranked = sum(rank is not None for rank in ranks.values())
    for row in city_rows:
        row["city_rank"] = ranks[row["site_id"]]
        row["cities_ranked"] = ranked if row["city_rank"] is not None else None
    return rows + city_rows


def _same(got: list[dict], expected: list[dict]) -> None:
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected):
        assert mine.keys() == theirs.keys()
        for key in theirs:   # exactly: same type, same value (floats to the last bit)
            assert type(mine[key]) is type(theirs[key]) and mine[key] == theirs[key], \
                (mine["scope"], mine["site_id"], key, mine[key], theirs[key])


def _real_march_days() -> pd.DataFrame:
    from pipelines.observations import conform, with_partition_day
    from pipelines.sources import files

    parsed = files.parse_file("cnemc-air", real_data(BEIBU_MARCH_2026), datetime(2026, 3, 29))
    observations = with_partition_day(conform(parsed.observations))
    days = sorted(set(observations["partition_day"]))
    return air_annual.station_day_values(observations, list(registry.air_stations().index), days)


def _laid_over(days: pd.DataFrame, first: date, last: date) -> pd.DataFrame:
    """The real station-days repeated day after day from `first` to `last`."""
    real = sorted(set(days["day"]))
    parts, n = [], 0
    day = first
    while day <= last:
        parts.append(days[days["day"] == real[n % len(real)]].assign(day=day))
        day, n = day + timedelta(days=1), n + 1
    return pd.concat(parts, ignore_index=True)


def test_the_real_beibu_days_give_the_one_by_one_statistics():
    march = _real_march_days()
    assert len(march) and march["pm2_5"].notna().any()
    # March 2026 alone: a year to date under GB 3095—2026
    _same(air_annual.year_statistics(march, 2026, date(2026, 3, 28)), _one_by_one(march, 2026, date(2026, 3, 28)))
    # the real days over January–February too (the rule change inside the year), through 03-28 and a closed year
    year = pd.concat([_laid_over(march, date(2026, 1, 1), date(2026, 2, 27)), march], ignore_index=True)
    for through in (date(2026, 3, 28), date(2026, 12, 31)):
        _same(air_annual.year_statistics(year, 2026, through), _one_by_one(year, 2026, through))
    # a whole year of them (2025): enough days for verdicts
    full = _laid_over(march, date(2025, 1, 1), date(2025, 12, 31))
    rows = air_annual.year_statistics(full, 2025, date(2025, 12, 31))
    assert {r["status"] for r in rows} & {"assessed"}
    _same(rows, _one_by_one(full, 2025, date(2025, 12, 31)))


def _national(monkeypatch, stations: int, cities: int) -> list[str]:
    ids = [f"{9000 + n}A" for n in range(stations)]
    frame = pd.DataFrame({"city": [f"市{n % cities:03d}" for n in range(stations)]}, index=pd.Index(ids, name="station_id"))
    monkeypatch.setattr(registry, "air_stations", lambda *args, **kwargs: frame.copy())
    return ids


def _simulated(ids: list[str], year: int, seed: int) -> pd.DataFrame:
    """A year of station-days: stations with gaps (an item missing some days, whole months away,
    rows with no valid value), short years, one station with no rows, values on the class Ⅱ limits and
    one rounding step either side, a station not in the registry."""
    rng = np.random.default_rng(seed)
    at = air_quality.year_rule_date(year)
    first = date(year, 1, 1)
    length = (date(year, 12, 31) - first).days + 1
    limits = {"so2": 150.0, "no2": 80.0, "co": 4.0, "pm10": 150.0, "pm2_5": 75.0, "o3_8h": 160.0}
    try:
        limits["pm2_5"] = air_quality.standards.air_limit("pm2_5", "PT24H", at=at)
    except air_quality.standards.RuleRefused:
        pass
    rows = []
    for s, station in enumerate(ids + ["9999X"]):
        kind = s % 7
        if kind == 6 and s < 30:
            continue                                           # no rows at all
        kept = rng.random(length) > (0.02 if kind < 3 else 0.15)
        if kind == 4:
            kept[31:59] &= rng.random(28) > 0.3                # February short of 25 days
        if kind == 5:
            kept[200:] = False                                 # the year stops in July
        for n in np.flatnonzero(kept):
            values = {}
            for c in ("so2", "no2", "co", "pm10", "pm2_5", "o3", "o3_8h"):
                base = limits.get(c, 200.0)
                if rng.random() < 0.25:
                    value = base + rng.choice([-1, 0, 0, 1]) * (0.1 if c == "co" else 1.0)   # at the limit
                else:
                    value = round(float(rng.uniform(0.05, 1.3) * base), 1 if c == "co" else 0)
                values[c] = np.nan if rng.random() < (0.03 if kind < 3 else 0.2) else value
            if rng.random() < 0.01:
                values = dict.fromkeys(values, np.nan)         # a row without a valid value
            rows.append({"day": first + timedelta(days=int(n)), "station_id": station, **values})
    frame = pd.DataFrame(rows)
    return frame.sample(frac=1.0, random_state=seed)          # stored in any order


@pytest.mark.parametrize("year, through", [(2025, date(2025, 12, 31)), (2026, date(2026, 12, 31)),
                                           (2026, date(2026, 5, 17)), (2024, date(2024, 12, 31)),
                                           (2031, date(2031, 12, 31))])
def test_simulated_national_stations_give_the_one_by_one_statistics(monkeypatch, year, through):
    ids = _national(monkeypatch, 240, 45)
    frame = _simulated(ids, year, seed=year + through.month)
    if year == 2026:   # a frame of two years: the other year's rows are left out
        frame = pd.concat([frame, _simulated(ids[:20], 2025, seed=1)])
    got = air_annual.year_statistics(frame, year, through)
    expected = _one_by_one(frame, year, through)
    statuses = {r["status"] for r in expected}
    assert statuses >= ({"target unset", "no data"} if year == 2031 else
                        {"no data", "insufficient data"} | ({"assessed"} if through.month == 12 else set()))
    _same(got, expected)


def test_duplicate_station_days_are_refused():
    ids = list(registry.air_stations().index)
    frame = pd.DataFrame([{"day": date(2025, 1, 1), "station_id": ids[0], "so2": 1.0, "no2": 1.0, "co": 1.0,
                           "pm10": 1.0, "pm2_5": 1.0, "o3": 1.0, "o3_8h": 1.0}] * 2)
    with pytest.raises(ValueError):
        air_annual.year_statistics(frame, 2025, date(2025, 12, 31))
