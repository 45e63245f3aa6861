"""The embedded default source: a deterministic simulator of every registry entry.

Its data is labelled "simulated" everywhere it shows (source names simulated-water,
simulated-air, simulated-coastal). It reproduces what the real feeds look like: CNEMC
automatic stations every 4 hours, air stations every hour, one coastal sample a day, with
diurnal and seasonal cycles, rain events and a recurring pollution episode on the 九洲江
cross-boundary section, and the faults that real feeds have (FAULTS below): stations offline
for days, a section's whole month missing, a section the feed stops carrying, a month with one
of its four weekly samples, error codes, spikes, readings above the instrument's range, stuck
values, drift, late and revised payloads, duplicated hours, the feed's 维护 / 停站 markers and
days below the detection limit. Each fault is switched on or off by ENVMON_SIMULATOR_FAULTS
(pipelines/config.py): `default` (all of them), `none` (the clean world) or a comma list.

The same seed, faults, day and fetch time always give the same rows. A day's payload is fetched
complete and corrected from the next night's run on (`fetched_at` at or after
clock.nightly_run_time(day + 1 day)); fetched before, by its own night's run, it lacks its late
readings and carries provisional values where the feed revises them (faults `late`, `revised`).

The two sections of the 九洲江 episode (EPISODE_SECTION, EPISODE_DOWNSTREAM) are spared the
faults that take a section's whole day away, so that every week shows the cross-boundary episode.
"""
from __future__ import annotations

import json
import math
import zlib
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from functools import cache

import numpy as np
import pandas as pd

from pipelines.clock import nightly_run_time
from pipelines.reference import registry, standards
from pipelines.observations import BEIJING_OFFSET_MINUTES, BUREAU_TZ, batch_id, conform

WATER_HOURS = (0, 4, 8, 12, 16, 20)
WATER_PARAMETERS = ("water_temp", "ph", "do", "conductivity", "turbidity", "codmn", "nh3n", "tp", "tn")
AIR_PARAMETERS = ("so2", "no2", "co", "o3", "pm10", "pm2_5")
COASTAL_PARAMETERS = ("water_temp", "salinity", "ph", "do", "cod", "din", "phosphate", "petroleum")
SENSOR_ERROR_CODE = -9999.0  # what a failing analyser writes; validation must quarantine it

# Scenario levels (not standards): typical means seen in the region's bulletins, by water body.
CLEAN_RIVER = {"codmn": 2.4, "nh3n": 0.18, "tp": 0.06, "tn": 1.1, "do_deficit": 0.4}
LOADED_RIVER = {"codmn": 3.6, "nh3n": 0.45, "tp": 0.13, "tn": 2.2, "do_deficit": 1.4}
RESERVOIR = {"codmn": 2.8, "nh3n": 0.15, "tp": 0.022, "tn": 0.7, "do_deficit": 0.6}
LOADED_WATER_BODIES = {"九洲江", "南流江", "钦江", "西门江", "白沙河", "大风江", "南康江", "武利江", "茅岭江"}
EPISODE_SECTION = "jiuzhou-wenchequiao"  # pig-farm runoff episodes, the 九洲江's known problem
EPISODE_DOWNSTREAM = "jiuzhou-shijiao"
BAY_LOAD = {"茅尾海": 1.8, "钦州湾": 1.0, "廉州湾": 1.3, "防城港西湾": 0.9, "防城港东湾": 1.1, "铁山港": 0.8}

# The fault table: name → (what the feed does, how often). Rates are scenario settings, not
# standards: "a few of each" in any week of the default world. Per station-day unless said.
FAULTS = {
    "gap": ("a few hours missing from a station's day", 0.05),
    "offline": ("a station or section sends nothing for 2–4 days (per station and 30-day block)", 0.12),
    "missing_month": ("a whole calendar month missing for two sections, one of them cross-boundary "
                      "(every month)", 1.0),
    "dropped_section": ("the feed stops carrying one section (not cross-boundary) from a date in 2026 on", 1.0),
    "sparse_month": ("a section whose month holds one of its four weekly samples: data on one day only "
                     "(one section every month)", 1.0),
    "error_value": ("an analyser's error code (-9999) or a sign error (negative PM2.5)", 0.025),
    "spike": ("a reading 15 times the true value (QC flags it suspect)", 0.02),
    "over_range": ("a reading above the instrument's range (qc_parameters.csv instrument_max): "
                   "quarantined by validation", 0.02),
    "stuck": ("the same reading for hours (a whole water day; 10 air hours)", 0.05),
    "drift": ("a sensor's readings creeping up 4% a day for 10 days (per station and 30-day block)", 0.08),
    "late": ("a day's last readings missing from its own night's payload, delivered the next night", 0.05),
    "revised": ("a day's values delivered provisional, corrected in the next night's payload", 0.05),
    "duplicate": ("an hour's readings delivered twice in the payload", 0.03),
    "marker": ("the feed's station status 维护 (maintenance) or 停站 (stopped) on some hours", 0.04),
    "below_dl": ("a reservoir's day with every tp and nh3n reading below the detection limit", 0.1),
}
DEFAULT_FAULTS = tuple(FAULTS)
FAULT_SETTINGS = ("default", "none")  # besides a comma list of FAULTS' names
# Method detection limits the simulated analysers report below (scenario values, mg/L; the
# methods' own: GB 11893-1989 total phosphorus 0.01, HJ 535-2009 ammonia nitrogen 0.025).
DETECTION_LIMITS = {"tp": 0.01, "nh3n": 0.025}
DROP_WINDOW = (date(2026, 1, 1), 365)   # the dropped section goes silent on a day of this year
BLOCK_DAYS = 30                          # offline and drift episodes are drawn per 30-day block
SPARED = (EPISODE_SECTION, EPISODE_DOWNSTREAM)
WATER_DRIFTING = ("do", "conductivity", "nh3n", "tp")  # the analysers that drift between calibrations
AIR_DRIFTING = ("o3", "co", "so2")


def active_faults(faults: str | Iterable[str] | None = None) -> frozenset[str]:
    """The faults switched on: `faults` as ENVMON_SIMULATOR_FAULTS spells it (`default`, `none`,
    a comma list) or as names; None reads ENVMON_SIMULATOR_FAULTS (default: every fault)."""
    if faults is None:
        from pipelines.config import simulator_faults

        return frozenset(simulator_faults())
    if isinstance(faults, str):
        faults = parse_faults(faults)
    unknown = sorted(set(faults) - set(FAULTS))
    if unknown:
        raise ValueError(f"unknown simulator faults {unknown}; known: {', '.join(FAULTS)}")
    return frozenset(faults)


def parse_faults(text: str) -> tuple[str, ...]:
    """`default` → every fault, `none` (or empty) → none, else the comma list, each name checked."""
    text = text.strip()
    if text == "default":
        return DEFAULT_FAULTS
    if text in ("none", ""):
        return ()
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in FAULTS]
    if unknown:
        raise ValueError(f"ENVMON_SIMULATOR_FAULTS names unknown faults {unknown}; use 'default', 'none' or a "
                         f"comma list of: {', '.join(FAULTS)}")
    return names


def _rng(seed: int, *keys: object) -> np.random.Generator:
    """An independent, reproducible stream for each (seed, keys) combination."""
    return np.random.default_rng([seed, zlib.crc32("|".join(map(str, keys)).encode())])


def in_episode(day: date) -> bool:
    """The 九洲江 episode recurs two days in every seven, so any week contains one."""
    return day.toordinal() % 7 in (3, 4)


def is_rain_day(seed: int, city: str, day: date) -> bool:
    return _rng(seed, "rain", city, day).random() < 0.2


def _seasonal_water_temp(day: date) -> float:
    return 23.0 + 6.0 * math.sin(2 * math.pi * (day.timetuple().tm_yday - 105) / 365)


def _diurnal(hour: float, peak_hour: float = 15.0) -> float:
    return math.cos(2 * math.pi * (hour - peak_hour) / 24)


def _local(day: date, hour: int) -> datetime:
    return datetime.combine(day, datetime.min.time(), BUREAU_TZ) + timedelta(hours=hour)


def _row(station_id, parameter, when, period, value, source, qc_flag="not_evaluated", qc_note="",
         detection_limit=None):
    """One observation as the feed prints it; with `detection_limit`, a reading below it ("0.01L",
    the Chinese convention): censored, `value` the limit."""
    text = "" if value is None else _format(parameter, value)
    row = {
        "station_id": station_id,
        "parameter": parameter,
        "observed_at": when,
        "utc_offset_minutes": BEIJING_OFFSET_MINUTES,
        "averaging_period": period,
        "value": float(text) if text else float("nan"),
        "unit": standards.unit_of(parameter),
        "qc_flag": qc_flag if text else "missing",
        "qc_note": qc_note,
        "source": source,
        "original_value": text,
    }
    if detection_limit is not None:
        row.update(value=detection_limit, original_value=f"{detection_limit:g}L", censoring="<",
                   detection_limit=detection_limit)
    return row


def _format(parameter: str, value: float) -> str:
    decimals = {"ph": 2, "do": 2, "codmn": 2, "nh3n": 3, "tp": 3, "tn": 2, "water_temp": 1,
                "conductivity": 1, "turbidity": 1, "co": 1, "din": 3, "phosphate": 3,
                "petroleum": 3, "cod": 2, "salinity": 2}.get(parameter, 0)
    return f"{value:.{decimals}f}"


def _water_levels(section: pd.Series) -> dict[str, float]:
    if section["station_type"] == "lake-reservoir":
        return RESERVOIR
    return LOADED_RIVER if section["water_body"] in LOADED_WATER_BODIES else CLEAN_RIVER


def _water_reading(section, levels, hour, day, rain, episode, rng) -> dict[str, float]:
    temp = _seasonal_water_temp(day) + 1.0 * _diurnal(hour, 16) + rng.normal(0, 0.2)
    saturation = 14.6 - 0.39 * temp + 0.007 * temp**2  # oxygen solubility in fresh water, mg/L
    values = {
        "water_temp": temp,
        "ph": 7.4 + 0.25 * _diurnal(hour, 16) + rng.normal(0, 0.05),
        "do": saturation - levels["do_deficit"] + 0.8 * _diurnal(hour, 16) + rng.normal(0, 0.15),
        "conductivity": 180 + rng.normal(0, 8),
        "turbidity": 12 * math.exp(rng.normal(0, 0.2)),
        "codmn": levels["codmn"] * math.exp(rng.normal(0, 0.08)),
        "nh3n": levels["nh3n"] * math.exp(rng.normal(0, 0.12)),
        "tp": levels["tp"] * math.exp(rng.normal(0, 0.10)),
        "tn": levels["tn"] * math.exp(rng.normal(0, 0.08)),
    }
    if rain:
        values["turbidity"] *= 4
        values["tp"] *= 1.6
        values["codmn"] *= 1.3
        values["nh3n"] *= 1.2
        values["do"] -= 0.5
    if episode:
        values["nh3n"] *= episode
        values["tp"] *= 0.5 + episode / 2
        values["do"] -= 0.4 * episode
    values["do"] = max(values["do"], 0.3)
    return values


def _episode_factor(section_id: str, day: date) -> float:
    if section_id == EPISODE_SECTION and in_episode(day):
        return 5.0
    if section_id == EPISODE_DOWNSTREAM and in_episode(day - timedelta(days=1)):
        return 2.5  # the plume reaches the Guangdong section a day later, diluted
    return 0.0


# --- faults that take a station's whole day away ------------------------------------------------

@cache
def _eligible_sections() -> tuple[str, ...]:
    return tuple(sorted(set(registry.water_sections().index) - set(SPARED)))


@cache
def missing_month_sections(seed: int, year: int, month: int) -> tuple[str, ...]:
    """The sections whose whole month is missing: one cross-boundary section and one other."""
    sections = registry.water_sections()
    eligible = _eligible_sections()
    crossing = [s for s in eligible if bool(sections.loc[s, "is_cross_boundary"])]
    others = [s for s in eligible if s not in crossing]
    rng = _rng(seed, "missing-month", year, month)
    return str(rng.choice(crossing)), str(rng.choice(others))


@cache
def sparse_month(seed: int, year: int, month: int) -> tuple[str, date]:
    """(section, the one day it has data in the month): one of its four weekly sampling days
    (the 5th, 12th, 19th, 26th), the other three samples never came."""
    eligible = [s for s in _eligible_sections() if s not in missing_month_sections(seed, year, month)]
    rng = _rng(seed, "sparse-month", year, month)
    return str(rng.choice(eligible)), date(year, month, int(rng.choice((5, 12, 19, 26))))


@cache
def dropped_section(seed: int) -> tuple[str, date]:
    """(section, the first day the feed no longer carries it): a section that is not cross-boundary."""
    sections = registry.water_sections()
    eligible = [s for s in _eligible_sections() if not bool(sections.loc[s, "is_cross_boundary"])]
    rng = _rng(seed, "dropped-section")
    return str(rng.choice(eligible)), DROP_WINDOW[0] + timedelta(days=int(rng.integers(0, DROP_WINDOW[1])))


@cache
def _block_episode(seed: int, kind: str, station_id: str, day: date, length: tuple[int, int]) -> tuple[date, int] | None:
    """(first day, days) of the fault's episode in the station's 30-day block holding `day`, if any."""
    block = day.toordinal() // BLOCK_DAYS
    rng = _rng(seed, kind, station_id, block)
    if rng.random() >= FAULTS[kind][1]:
        return None
    first = date.fromordinal(block * BLOCK_DAYS + int(rng.integers(0, BLOCK_DAYS - length[1])))
    return first, int(rng.integers(length[0], length[1] + 1))


def offline_days(seed: int, station_id: str, day: date) -> tuple[date, int] | None:
    """The station's outage (first day, days) in the 30-day block of `day`, if it has one."""
    return _block_episode(seed, "offline", station_id, day, (2, 4))


def silent_reason(station_id: str, day: date, seed: int, active: frozenset[str], water: bool | None = None) -> str | None:
    """Why the feed carries nothing of the station that day (a fault's name), or None. `water`:
    whether it is a water section, when the caller knows (else looked up in the registry)."""
    if station_id in SPARED:
        return None
    water = station_id in registry.water_sections().index if water is None else water
    if water and "dropped_section" in active:
        section, first = dropped_section(seed)
        if station_id == section and day >= first:
            return "dropped_section"
    if water and "missing_month" in active and station_id in missing_month_sections(seed, day.year, day.month):
        return "missing_month"
    if water and "sparse_month" in active:
        section, sampled = sparse_month(seed, day.year, day.month)
        if station_id == section and day != sampled:
            return "sparse_month"
    outage = offline_days(seed, station_id, day) if "offline" in active else None
    if outage and outage[0] <= day < outage[0] + timedelta(days=outage[1]):
        return "offline"
    return None


def drift(seed: int, station_id: str, day: date, choices: tuple[str, ...]) -> tuple[str, datetime, int] | None:
    """(parameter, start, days) of the drift episode that covers `day`, if one does."""
    episode = _block_episode(seed, "drift", station_id, day, (10, 10))
    if episode is None or not episode[0] <= day < episode[0] + timedelta(days=episode[1]):
        return None
    parameter = choices[int(_rng(seed, "drift-parameter", station_id, episode[0]).integers(len(choices)))]
    return parameter, datetime.combine(episode[0], datetime.min.time(), BUREAU_TZ), episode[1]


def drift_factor(episode: tuple[str, datetime, int] | None, parameter: str, when: datetime) -> float:
    """How far a drifting sensor reads above the truth at `when` (1.0: not drifting): 4% a day
    from the start of its 10-day episode, then recalibrated."""
    if episode is None or parameter != episode[0]:
        return 1.0
    days = (when - episode[1]).total_seconds() / 86400
    return 1.0 + 0.04 * days if 0 <= days < episode[2] else 1.0


@cache
def instrument_max() -> dict[str, float]:
    table = pd.read_csv(standards.DATA_DIR / "qc_parameters.csv")
    return dict(zip(table["code"], table["instrument_max"].astype(float)))


@cache
def marker_flags() -> dict[str, str]:
    """The CNEMC water feed's station status markers and their QC flags (qc_source_markers.csv)."""
    table = pd.read_csv(standards.DATA_DIR / "qc_source_markers.csv", keep_default_na=False)
    table = table[table["source"] == "cnemc-water"]
    return dict(zip(table["marker"], table["qc_flag"]))


MARKER_MEANINGS = {"维护": "maintenance", "停站": "stopped"}


class DayFaults:
    """The per-row faults of one station-day, drawn from streams of their own (so that switching
    one fault leaves every other value of the world as it was)."""

    def __init__(self, seed: int, kind: str, station_id: str, day: date, hours: tuple[int, ...],
                 parameters: tuple[str, ...], active: frozenset[str], first_delivery: bool):
        def draw(name: str) -> np.random.Generator | None:
            if name not in active:
                return None
            rng = _rng(seed, name, kind, station_id, day)
            return rng if rng.random() < FAULTS[name][1] else None

        self.over_range = None
        if rng := draw("over_range"):
            parameter = str(rng.choice(parameters[1:]))
            self.over_range = (int(rng.choice(hours)), parameter,
                               instrument_max()[parameter] * float(rng.uniform(1.2, 3.0)))
        self.duplicate_hour = int(rng.choice(hours)) if (rng := draw("duplicate")) else None
        self.late_hours: set[int] = set()
        if first_delivery and (rng := draw("late")):
            self.late_hours = set(hours[-2:]) if len(hours) <= 6 else set(hours[-4:])
        self.provisional: dict[tuple[int, str], float] = {}
        if first_delivery and (rng := draw("revised")):
            hour = int(rng.choice(hours))
            for parameter in parameters[-3:]:
                self.provisional[(hour, parameter)] = float(rng.uniform(0.7, 1.3))
        self.stopped_hours: set[int] = set()
        if kind == "water" and (rng := draw("marker")):
            start = int(rng.integers(0, len(hours) - 1))
            self.stopped_hours = set(hours[start:start + 2])
        self.below_dl = kind == "water" and draw("below_dl") is not None
        self.stuck: tuple[str, set[int]] | None = None
        if kind == "air" and (rng := draw("stuck")):
            start = int(rng.integers(0, len(hours) - 10))
            self.stuck = (str(rng.choice(parameters)), set(hours[start:start + 10]))


def _first_delivery(day: date, fetched_at: datetime | None) -> bool:
    """Whether the payload is fetched before the next night's run, which completes and corrects it."""
    return fetched_at is not None and fetched_at < nightly_run_time(day + timedelta(days=1))


def simulate_water(day: date, seed: int, faults: str | Iterable[str] | None = None,
                   fetched_at: datetime | None = None) -> pd.DataFrame:
    """The water feed's day as fetched at `fetched_at` (None: complete, as any later night has it)."""
    active = active_faults(faults)
    first_delivery = _first_delivery(day, fetched_at)
    markers = marker_flags()
    rows = []
    for section_id, section in registry.water_sections().iterrows():
        if silent_reason(section_id, day, seed, active, water=True):
            continue
        rng = _rng(seed, "water", section_id, day)
        levels = _water_levels(section)
        rain = is_rain_day(seed, section["city"], day)
        episode = _episode_factor(section_id, day)
        # the original fault draws, kept in this order so that the stream of values stays the same
        faults_drawn = rng.random(4)
        gap_hours = set(rng.choice(WATER_HOURS, size=2, replace=False)) if faults_drawn[0] < 0.05 else set()
        maintenance_hour = int(rng.choice(WATER_HOURS)) if faults_drawn[1] < 0.04 else None
        stuck_parameter = str(rng.choice(WATER_PARAMETERS[5:])) if faults_drawn[2] < 0.05 else None
        spike = (int(rng.choice(WATER_HOURS)), str(rng.choice(WATER_PARAMETERS[1:]))) if faults_drawn[3] < 0.04 else None
        gap_hours = gap_hours if "gap" in active else set()
        maintenance_hour = maintenance_hour if "marker" in active else None
        stuck_parameter = stuck_parameter if "stuck" in active else None
        extra = DayFaults(seed, "water", section_id, day, WATER_HOURS, WATER_PARAMETERS, active, first_delivery)
        below_dl = extra.below_dl and section["station_type"] == "lake-reservoir"
        drifting = drift(seed, section_id, day, WATER_DRIFTING) if "drift" in active else None
        stuck_value = None
        for hour in WATER_HOURS:
            if hour in gap_hours:
                continue
            when = _local(day, hour)
            values = _water_reading(section, levels, hour, day, rain, episode, rng)
            hour_rows = []
            for parameter in WATER_PARAMETERS:
                # the sensor's own errors (drift, a provisional value) first, then what replaces the reading
                value = values[parameter] * drift_factor(drifting, parameter, when)
                value *= extra.provisional.get((hour, parameter), 1.0)
                flag, note, limit = "not_evaluated", "", None
                if parameter == stuck_parameter:
                    stuck_value = value if stuck_value is None else stuck_value
                    value = stuck_value
                if spike == (hour, parameter):
                    error_code = rng.random() < 0.5
                    if error_code and "error_value" in active:
                        value = SENSOR_ERROR_CODE
                    elif not error_code and "spike" in active:
                        value = value * 15
                if extra.over_range and extra.over_range[:2] == (hour, parameter):
                    value = extra.over_range[2]
                if below_dl and parameter in DETECTION_LIMITS:
                    limit = DETECTION_LIMITS[parameter]
                if hour == maintenance_hour:
                    flag, note = markers["维护"], "station status 维护 (maintenance)"
                elif hour in extra.stopped_hours:
                    flag, note = markers["停站"], "station status 停站 (stopped)"
                hour_rows.append(_row(section_id, parameter, when, "PT0S", value, "simulated-water", flag, note, limit))
            if hour in extra.late_hours:
                continue  # measured, not yet in the feed: the next night's payload has it
            rows += hour_rows + (hour_rows if hour == extra.duplicate_hour else [])
    return _finish(rows, "simulated-water", day)


AIR_HOURS = tuple(range(1, 25))  # the label is the end of the hour-long mean


def simulate_air(day: date, seed: int, faults: str | Iterable[str] | None = None,
                 fetched_at: datetime | None = None) -> pd.DataFrame:
    """The air feed's day as fetched at `fetched_at` (None: complete, as any later night has it)."""
    active = active_faults(faults)
    first_delivery = _first_delivery(day, fetched_at)
    rows = []
    season = 1.0 + 0.35 * math.cos(2 * math.pi * (day.timetuple().tm_yday - 15) / 365)  # winter haze
    for station_id, station in registry.air_stations().iterrows():
        if silent_reason(station_id, day, seed, active, water=False):
            continue
        rng = _rng(seed, "air", station_id, day)
        washout = 0.55 if is_rain_day(seed, station["city"], day) else 1.0
        gap_hour = int(rng.integers(1, 25)) if rng.random() < 0.1 else None
        spike_hour = int(rng.integers(1, 25)) if rng.random() < 0.05 else None
        gap_hour = gap_hour if "gap" in active else None
        extra = DayFaults(seed, "air", station_id, day, AIR_HOURS, AIR_PARAMETERS, active, first_delivery)
        stuck_values: dict[str, float] = {}
        drifting = drift(seed, station_id, day, AIR_DRIFTING) if "drift" in active else None
        for hour in AIR_HOURS:
            if hour == gap_hour:
                continue
            when = _local(day, hour)
            traffic = math.exp(-((hour - 8.5) ** 2) / 4) + math.exp(-((hour - 18.5) ** 2) / 5)
            pm2_5 = 28 * season * washout * (1 + 0.3 * traffic) * math.exp(rng.normal(0, 0.15))
            values = {
                "pm2_5": pm2_5,
                "pm10": pm2_5 * 1.7 * math.exp(rng.normal(0, 0.1)),
                "no2": 18 * (1 + 1.2 * traffic) * math.exp(rng.normal(0, 0.15)),
                "so2": 7 * math.exp(rng.normal(0, 0.2)),
                "co": 0.7 * (1 + 0.3 * traffic) * math.exp(rng.normal(0, 0.1)),
                "o3": max(5.0, 70 + 55 * _diurnal(hour, 15) + rng.normal(0, 8)) / season,
            }
            hour_rows = []
            for parameter in AIR_PARAMETERS:
                value = values[parameter] * drift_factor(drifting, parameter, when)
                value *= extra.provisional.get((hour, parameter), 1.0)
                if hour == spike_hour and parameter == "pm2_5" and "error_value" in active:
                    value = -value  # a sign error from a failing logger: invalid, quarantined
                if extra.stuck and parameter == extra.stuck[0] and hour in extra.stuck[1]:
                    value = stuck_values.setdefault(parameter, value)
                if extra.over_range and extra.over_range[:2] == (hour, parameter):
                    value = extra.over_range[2]
                hour_rows.append(_row(station_id, parameter, when, "PT1H", value, "simulated-air"))
            if hour in extra.late_hours:
                continue  # measured, not yet in the feed: the next night's payload has it
            rows += hour_rows + (hour_rows if hour == extra.duplicate_hour else [])
    return _finish(rows, "simulated-air", day)


def simulate_coastal(day: date, seed: int, faults: str | Iterable[str] | None = None,
                     fetched_at: datetime | None = None) -> pd.DataFrame:
    """One survey sample a day per point (only `offline` of the faults applies to it)."""
    active = active_faults(faults)
    rows = []
    for point_id, point in registry.sea_points().iterrows():
        if silent_reason(point_id, day, seed, active, water=False):
            continue
        rng = _rng(seed, "coastal", point_id, day)
        load = BAY_LOAD.get(point["water_body"], 1.0)
        when = _local(day, 10)
        values = {
            "water_temp": _seasonal_water_temp(day) + 1.0 + rng.normal(0, 0.3),
            "salinity": 30.0 - 4.0 * (load - 0.8) + rng.normal(0, 0.5),
            "ph": 8.15 - 0.1 * (load - 1) + rng.normal(0, 0.04),
            "do": 6.6 - 0.4 * (load - 1) + rng.normal(0, 0.2),
            "cod": 1.2 * load * math.exp(rng.normal(0, 0.1)),
            "din": 0.17 * load * math.exp(rng.normal(0, 0.12)),
            "phosphate": 0.012 * load * math.exp(rng.normal(0, 0.12)),
            "petroleum": 0.02 * math.exp(rng.normal(0, 0.2)),
        }
        for parameter in COASTAL_PARAMETERS:
            rows.append(_row(point_id, parameter, when, "PT0S", values[parameter], "simulated-coastal"))
    return _finish(rows, "simulated-coastal", day)


def _finish(rows: list[dict], source: str, day: date) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame["batch_id"] = ""
    frame = conform(frame)
    frame["batch_id"] = batch_id(source, day, frame)
    return frame


SIMULATORS = {
    "simulated-water": simulate_water,
    "simulated-air": simulate_air,
    "simulated-coastal": simulate_coastal,
}


# --- the national day, in the feeds' own formats (issue 27) ----------------------------------------
#
# Every station the CNEMC feeds publish (given as the feeds list them: a real payload's stations and
# sections, pipelines/sources/files.py reads them back), every hour of air and every 4-hourly water
# snapshot, made at once with numpy: one array per parameter over stations × hours, printed with the
# feeds' own columns, rounding and tooltips, so the bytes go through envmon's real parsers. Clean world
# (no FAULTS): it measures the pipeline at scale, the Beibu simulator above tests the faults.

NATIONAL_AIR_HEADER = ("timepoint", "stationcode", "longitude", "latitude", "area", "positionname", "primarypollutant",
                       "aqi", "pm10", "pm10_24h", "pm2_5", "pm2_5_24h", "o3", "o3_24h", "o3_8h", "o3_8h_24h",
                       "no2", "no2_24h", "so2", "so2_24h", "co", "co_24h")
AIR_DECIMALS = {"pm10": 0, "pm2_5": 0, "o3": 0, "no2": 0, "so2": 0, "co": 1}
# The national water response's header as the feed prints it (GJZ/Ajax/Publish.ashx, 2020–2021).
NATIONAL_WATER_THEAD = ["省份", "流域", "断面名称", "监测时间", "水质类别"] + [
    f"{name}<br/><span class='unit'>({unit})</span>" for name, unit in (
        ("水温", "℃"), ("pH", "无量纲"), ("溶解氧", "mg/L"), ("电导率", "μS/cm"), ("浊度", "NTU"), ("高锰酸盐指数", "mg/L"),
        ("氨氮", "mg/L"), ("总磷", "mg/L"), ("总氮", "mg/L"), ("叶绿素α", "mg/L"), ("藻密度", "cells/L"))] + ["站点情况"]
WATER_DECIMALS = {"water_temp": 1, "ph": 2, "do": 2, "conductivity": 1, "turbidity": 1, "codmn": 2, "nh3n": 3,
                  "tp": 3, "tn": 2}


def national_air_day(day: date, seed: int, stations: pd.DataFrame) -> dict[datetime, bytes]:
    """The hourly air feed's 24 payloads of `day` (key: the hour's end, Beijing time) for `stations`
    (columns stationcode, positionname, area, longitude, latitude: as the feed lists them)."""
    rng = _rng(seed, "national-air", day)
    count, hours = len(stations), np.array(AIR_HOURS, dtype=float)
    season = 1.0 + 0.35 * math.cos(2 * math.pi * (day.timetuple().tm_yday - 15) / 365)
    level = np.exp(rng.normal(0, 0.45, (count, 1)))   # each city's own pollution level
    traffic = np.exp(-((hours - 8.5) ** 2) / 4) + np.exp(-((hours - 18.5) ** 2) / 5)
    pm2_5 = 28 * season * level * (1 + 0.3 * traffic) * np.exp(rng.normal(0, 0.15, (count, 24)))
    values = {
        "pm2_5": pm2_5,
        "pm10": pm2_5 * 1.7 * np.exp(rng.normal(0, 0.1, (count, 24))),
        "no2": 18 * level * (1 + 1.2 * traffic) * np.exp(rng.normal(0, 0.15, (count, 24))),
        "so2": 7 * np.exp(rng.normal(0, 0.2, (count, 24))),
        "co": 0.7 * (1 + 0.3 * traffic) * np.exp(rng.normal(0, 0.1, (count, 24))),
        "o3": np.maximum(5.0, 70 + 55 * np.cos(2 * math.pi * (hours - 15) / 24) + rng.normal(0, 8, (count, 24))) / season,
    }
    printed = {code: np.round(array, AIR_DECIMALS[code]) for code, array in values.items()}
    hours_so_far = np.arange(1, 25)
    columns = {code: _air_text(array, code) for code, array in printed.items()}
    # the feed's running statistics, within the day simulated: 24-h means so far, the 8-h O3 mean
    for code, array in printed.items():
        columns[f"{code}_24h"] = _air_text(np.round(np.cumsum(array, axis=1) / hours_so_far, AIR_DECIMALS[code]), code)
    o3_sums = np.cumsum(np.pad(printed["o3"], ((0, 0), (1, 0))), axis=1)
    window = np.minimum(hours_so_far, 8)
    o3_8h = np.round((o3_sums[:, 1:] - o3_sums[:, np.maximum(hours_so_far - window, 0)]) / window)
    columns["o3_8h"] = _air_text(o3_8h, "o3")
    columns["o3_8h_24h"] = _air_text(np.maximum.accumulate(o3_8h, axis=1), "o3")
    fixed = {"stationcode": stations["stationcode"].to_numpy(str), "longitude": stations["longitude"].to_numpy(str),
             "latitude": stations["latitude"].to_numpy(str), "area": stations["area"].to_numpy(str),
             "positionname": stations["positionname"].to_numpy(str), "primarypollutant": np.full(count, ""),
             "aqi": np.full(count, "NA")}   # the published AQI left out: envmon computes its own
    payloads = {}
    for index, hour in enumerate(AIR_HOURS):
        when = _local(day, hour)
        table = {"timepoint": np.full(count, f"{when:%Y-%m-%dT%H%M}")}
        table |= {column: fixed[column] if column in fixed else columns[column][:, index]
                  for column in NATIONAL_AIR_HEADER[1:]}
        payloads[when] = pd.DataFrame(table, columns=list(NATIONAL_AIR_HEADER)).to_csv(index=False).encode("utf-8")
    return payloads


def _air_text(values: np.ndarray, code: str) -> np.ndarray:
    decimals = AIR_DECIMALS[code]
    return np.char.mod(f"%.{decimals}f", values) if decimals else np.char.mod("%d", values.astype(np.int64))


def national_water_day(day: date, seed: int, sections: pd.DataFrame) -> dict[datetime, bytes]:
    """The water feed's six 4-hourly snapshots of `day` (key: the reading time, Beijing time) for
    `sections` (columns province, basin, name_zh: the feed's own 省份, 流域, 断面名称), as the national
    Publish.ashx response prints them: each value's raw reading in its tooltip, rounded in the cell."""
    rng = _rng(seed, "national-water", day)
    count, hours = len(sections), np.array(WATER_HOURS, dtype=float)
    diurnal = np.cos(2 * math.pi * (hours - 16) / 24)
    loaded = rng.random((count, 1)) < 0.3            # a third of the rivers carry a town's load
    levels = {key: np.where(loaded, LOADED_RIVER[key], CLEAN_RIVER[key]) for key in CLEAN_RIVER}
    temp = _seasonal_water_temp(day) + rng.normal(0, 3, (count, 1)) + 1.0 * diurnal + rng.normal(0, 0.2, (count, 6))
    saturation = 14.6 - 0.39 * temp + 0.007 * temp ** 2
    values = {
        "water_temp": temp,
        "ph": 7.4 + 0.25 * diurnal + rng.normal(0, 0.05, (count, 6)),
        "do": np.maximum(saturation - levels["do_deficit"] + 0.8 * diurnal + rng.normal(0, 0.15, (count, 6)), 0.3),
        "conductivity": 180 + rng.normal(0, 8, (count, 6)),
        "turbidity": 12 * np.exp(rng.normal(0, 0.2, (count, 6))),
        "codmn": levels["codmn"] * np.exp(rng.normal(0, 0.08, (count, 6))),
        "nh3n": levels["nh3n"] * np.exp(rng.normal(0, 0.12, (count, 6))),
        "tp": levels["tp"] * np.exp(rng.normal(0, 0.10, (count, 6))),
        "tn": levels["tn"] * np.exp(rng.normal(0, 0.08, (count, 6))),
    }
    cells = {code: np.char.add(np.char.add(np.char.add("<span title='原始值：", np.char.mod("%.4f", array)), "'>"),
                               np.char.add(np.char.mod(f"%.{WATER_DECIMALS[code]}f", array), "</span>"))
             for code, array in values.items()}
    names = sections[["province", "basin", "name_zh"]].to_numpy(str).tolist()
    payloads = {}
    for index, hour in enumerate(WATER_HOURS):
        when = _local(day, hour)
        stamp = f"{when:%m-%d %H:%M}"
        columns = [cells[code][:, index].tolist() for code in WATER_PARAMETERS]
        body = [[*name, stamp, "", *row, "--", "--", "正常"] for name, row in zip(names, zip(*columns))]
        document = {"result": 1, "total": 1, "records": count, "thead": NATIONAL_WATER_THEAD, "tbody": body}
        payloads[when] = json.dumps(document, ensure_ascii=False).encode("utf-8")
    return payloads


def feed_air_stations(payload: bytes) -> pd.DataFrame:
    """The stations an hourly air payload lists (stationcode, positionname, area, longitude, latitude)."""
    import io

    table = pd.read_csv(io.BytesIO(payload), dtype=str, keep_default_na=False)
    table = table.drop_duplicates("stationcode")
    return table[["stationcode", "positionname", "area", "longitude", "latitude"]].reset_index(drop=True)


def feed_water_sections(payload: bytes) -> pd.DataFrame:
    """The sections a national water response lists (province, basin, name_zh), each key once."""
    from pipelines.sources.files import _cell

    body = json.loads(payload.decode("utf-8"))["tbody"]
    rows = [(str(r[0]).strip(), str(r[1]).strip(), _cell(r[2])[0]) for r in body]
    return pd.DataFrame(rows, columns=["province", "basin", "name_zh"]).drop_duplicates().reset_index(drop=True)
