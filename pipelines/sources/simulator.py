"""The embedded default source: a deterministic simulator of every registry entry.

Its data is labelled "simulated" everywhere it shows (source names simulated-water,
simulated-air, simulated-coastal). It reproduces what the real feeds look like: CNEMC
automatic stations every 4 hours, air stations every hour, one coastal sample a day, with
diurnal and seasonal cycles, rain events, a recurring pollution episode on the 九洲江
cross-boundary section and sensor faults (spikes, flat lines, gaps, maintenance rows).
The same seed and day always give the same rows.
"""
from __future__ import annotations

import math
import zlib
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

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


def _row(station_id, parameter, when, period, value, source, qc_flag="not_evaluated", qc_note=""):
    text = "" if value is None else _format(parameter, value)
    return {
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


def simulate_water(day: date, seed: int) -> pd.DataFrame:
    rows = []
    for section_id, section in registry.water_sections().iterrows():
        rng = _rng(seed, "water", section_id, day)
        levels = _water_levels(section)
        rain = is_rain_day(seed, section["city"], day)
        episode = _episode_factor(section_id, day)
        faults = rng.random(4)
        gap_hours = set(rng.choice(WATER_HOURS, size=2, replace=False)) if faults[0] < 0.05 else set()
        maintenance_hour = int(rng.choice(WATER_HOURS)) if faults[1] < 0.04 else None
        stuck_parameter = str(rng.choice(WATER_PARAMETERS[5:])) if faults[2] < 0.05 else None
        spike = (int(rng.choice(WATER_HOURS)), str(rng.choice(WATER_PARAMETERS[1:]))) if faults[3] < 0.04 else None
        stuck_value = None
        for hour in WATER_HOURS:
            if hour in gap_hours:
                continue
            when = _local(day, hour)
            values = _water_reading(section, levels, hour, day, rain, episode, rng)
            for parameter in WATER_PARAMETERS:
                value = values[parameter]
                flag, note = "not_evaluated", ""
                if parameter == stuck_parameter:
                    stuck_value = value if stuck_value is None else stuck_value
                    value = stuck_value
                if spike == (hour, parameter):
                    value = SENSOR_ERROR_CODE if rng.random() < 0.5 else value * 15
                if hour == maintenance_hour:
                    flag, note = "suspect", "station status 维护 (maintenance)"
                rows.append(_row(section_id, parameter, when, "PT0S", value, "simulated-water", flag, note))
    return _finish(rows, "simulated-water", day)


def simulate_air(day: date, seed: int) -> pd.DataFrame:
    rows = []
    season = 1.0 + 0.35 * math.cos(2 * math.pi * (day.timetuple().tm_yday - 15) / 365)  # winter haze
    for station_id, station in registry.air_stations().iterrows():
        rng = _rng(seed, "air", station_id, day)
        washout = 0.55 if is_rain_day(seed, station["city"], day) else 1.0
        gap_hour = int(rng.integers(1, 25)) if rng.random() < 0.1 else None
        spike_hour = int(rng.integers(1, 25)) if rng.random() < 0.05 else None
        for hour in range(1, 25):  # the label is the end of the hour-long mean
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
            for parameter in AIR_PARAMETERS:
                value = values[parameter]
                if hour == spike_hour and parameter == "pm2_5":
                    value = -value  # a sign error from a failing logger: invalid, quarantined
                rows.append(_row(station_id, parameter, when, "PT1H", value, "simulated-air"))
    return _finish(rows, "simulated-air", day)


def simulate_coastal(day: date, seed: int) -> pd.DataFrame:
    rows = []
    for point_id, point in registry.sea_points().iterrows():
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
