"""What a document reads from the warehouse, shaped as the pipeline's rule functions take it.

- Surface water: each section's valid day values, made by the nightly day rule itself
  (`daily.surface_water_daily_means`: ≥ 4 automatic readings a day, a manual sample counts alone,
  automatic data preferred, censored values at half the limit) from the observations whose QC flag
  the bureau assesses (ENVMON_ASSESSABLE_FLAGS), as `nightly.assess` filters them; many days in one
  call, keyed by station and day as the batched history path does. These are the "valid values"
  `surface_water.classify_period` and `cross_boundary.assess_month/assess_year` take.
- Air: each station's daily values (`daily.air_day_values` under the day's rules) from the hourly
  series the nightly and history paths build, then each city's (`air_quality.city_daily_values`).
- Coastal: the samples of the sea points with their survey (spring/summer/autumn in a survey
  file, else the month's routine sampling).
- Beside the values: what was read (values by source, QC flag and censoring: the data's status)
  and the lineage: the batches and payloads of the observations read, and the (source, day)
  partitions of what was read with the batch each was last loaded from (the fingerprint).

Every read is of one domain in one calendar month, cached, so the annual report and the
bulletin's year to date read each month once.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from pipelines.assessment import air_quality, daily
from pipelines.observations import ASSESSABLE_FLAGS
from pipelines.reference import registry
from warehouse import db

LINEAGE_COLUMNS = ["source", "batch_id", "payload_id"]
WATER_COLUMNS = ["station_id", "parameter", "partition_day", "value", "qc_flag", "source", "censoring",
                 "detection_limit", "batch_id", "payload_id"]
SEA_COLUMNS = WATER_COLUMNS + ["layer", "detail"]
AIR_COLUMNS = ["station_id", "parameter", "partition_day", "observed_at", "averaging_period", "value", "qc_flag",
               "source", "batch_id", "payload_id"]
AIR_DAY_COLUMNS = ("so2", "no2", "co", "pm10", "pm2_5", "o3", "o3_8h")
ROUTINE_SURVEY = "routine"   # samples not from a survey file: the month's routine sampling
# the reads that are data (their rows make the data version), not lineage
DATA_READS = ("observations", "rollups", "air_annual")
# the reader's domains and the partition log's (pipelines.observations.SOURCE_DOMAINS)
LOG_DOMAINS = {"water": "water", "air": "air", "sea": "coastal"}


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> "Month":
        try:
            year, month = (int(part) for part in text.split("-"))
            date(year, month, 1)
        except ValueError:
            raise ValueError(f"not a month in YYYY-MM form: {text!r}") from None
        return cls(year, month)

    @classmethod
    def of(cls, day: date) -> "Month":
        return cls(day.year, day.month)

    @property
    def first(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last(self) -> date:
        return self.following().first - timedelta(days=1)

    @property
    def days(self) -> int:
        return self.last.day

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def zh(self) -> str:
        return f"{self.year}年{self.month}月"

    def following(self) -> "Month":
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> "Month":
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def year_before(self) -> "Month":
        return Month(self.year - 1, self.month)


def months_of(year: int, through: int = 12) -> list[Month]:
    return [Month(year, m) for m in range(1, through + 1)]


def is_simulated(source: str) -> bool:
    return source.startswith("simulated-")


def partitions_of(engine, reads) -> pd.DataFrame:
    """The partition log's rows of the (domain, month) pairs a document reads."""
    frames = []
    for domain, month in sorted(set(reads), key=lambda r: (r[1], r[0])):
        log = db.partition_log_between(engine, month.first, month.last)
        frames.append(log[log["domain"] == LOG_DOMAINS[domain]])
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()).sort_values(
        ["partition_day", "source"], kind="stable").reset_index(drop=True)


class WarehouseReader:
    """One document's reads of one warehouse, month by month, each read once."""

    def __init__(self, engine, assessable_flags=ASSESSABLE_FLAGS):
        self.engine = engine
        self.assessable_flags = tuple(assessable_flags)
        self._cache: dict[tuple, pd.DataFrame] = {}
        self._read_counts: list[pd.DataFrame] = []   # what was read, for the data's status
        self._batches: list[pd.DataFrame] = []       # the batches and payloads of what was read
        # every warehouse read, in order, as the document made it (an issue's data, kept with it so
        # that it can be rebuilt: pipelines/reports/issues.py): (what, key) → frame
        self.reads: dict[tuple, pd.DataFrame] = {}

    # --- the warehouse reads (a snapshot reader answers them from an issue's stored frames) -------

    def _fetch(self, key: tuple, month: Month, stations, columns) -> pd.DataFrame:
        return db.observations_between(self.engine, month.first, month.last, stations, columns)

    def _fetch_partitions(self, reads) -> pd.DataFrame:
        return partitions_of(self.engine, reads)

    def _fetch_payloads(self, ids) -> pd.DataFrame:
        return db.payloads_by_id(self.engine, ids)

    def _fetch_rollups(self, key: tuple, parameters, stations, through_year: int) -> pd.DataFrame:
        """The stored monthly rollups (the pipeline's monthly means, PT0S) of `stations` and
        `parameters`, every year up to `through_year`, with a mean."""
        stored = db.rollups(self.engine, "month", list(parameters))
        stored = stored[(stored["averaging_period"] == "PT0S") & stored["mean"].notna()
                        & stored["station_id"].isin(list(stations))]
        stored = stored[pd.to_datetime(stored["period_start"]).dt.year <= through_year]
        return stored.sort_values(["station_id", "parameter", "period_start"]).reset_index(drop=True)

    def _fetch_air_annual(self, key: tuple, year: int) -> pd.DataFrame:
        """The cities' HJ 663 statistics of a closed year as the pipeline stored them (none: empty)."""
        from warehouse import air_annual_store, queries

        if not queries.has_table(self.engine, "air_annual_statistics"):
            return pd.DataFrame(columns=air_annual_store.COLUMNS)
        from pipelines.assessment import air_annual

        return air_annual_store.annual_statistics(self.engine, year, "city", period=air_annual.PERIOD_YEAR)

    def _kept(self, key: tuple, frame: pd.DataFrame) -> pd.DataFrame:
        self.reads[key] = frame
        return frame

    def data_version(self) -> str:
        """The version of the data this document read: a digest of every row of every read of
        observations, and of the stored rollups and air statistics an annual assessment reads
        (sorted, so the same rows in another order are the same version). The partition log and
        the payloads are lineage, not data: a reload of the same rows does not change it."""
        import hashlib

        digest = hashlib.sha256()
        for key in sorted((k for k in self.reads if k[0] in DATA_READS), key=repr):
            digest.update(repr(key).encode() + b"\0" + frame_digest(self.reads[key]).encode())
        return digest.hexdigest()

    def _observations(self, domain: str, month: Month, stations=None) -> pd.DataFrame:
        """A domain's observations of a month: every station of the domain, or `stations` only
        (then cached apart, unless the whole domain has been read)."""
        everything = ("observations", domain, month, None)
        if everything in self._cache and stations is not None:
            frame = self._cache[everything]
            return frame[frame["station_id"].isin(list(stations))]
        key = ("observations", domain, month, None if stations is None else tuple(sorted(stations)))
        if key not in self._cache:
            # the stations of the registry of the month (not of today: an issue re-read later reads the same)
            all_stations, columns = {
                "water": (registry.water_sections(month.last).index, WATER_COLUMNS),
                "sea": (registry.sea_points(month.last).index, SEA_COLUMNS),
                "air": (registry.air_stations(month.last).index, AIR_COLUMNS),
            }[domain]
            wanted = sorted(all_stations if stations is None else stations)
            read = ("observations", domain, month.label, None if stations is None else tuple(wanted))
            frame = self._kept(read, self._fetch(read, month, wanted, columns))
            self._record(frame, domain, month)
            self._cache[key] = frame
        return self._cache[key]

    def _record(self, frame: pd.DataFrame, domain: str, month: Month) -> None:
        censored = frame["censoring"].eq("<") if "censoring" in frame else pd.Series(False, index=frame.index)
        counts = pd.DataFrame({"source": frame["source"], "qc_flag": frame["qc_flag"], "censored": censored,
                               "has_value": frame["value"].notna()})
        grouped = counts.groupby(["source", "qc_flag", "censored", "has_value"]).size().rename("values").reset_index()
        self._read_counts.append(grouped.assign(domain=domain, month=month.label))
        batches = (frame.groupby(LINEAGE_COLUMNS, dropna=False)["partition_day"].agg(["min", "max", "size"])
                   .reset_index().rename(columns={"min": "first_day", "max": "last_day", "size": "rows"}))
        self._batches.append(batches.assign(domain=domain, month=month.label))

    def _assessable(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The values the bureau assesses, as nightly.assess filters them before the day rules."""
        return frame[frame["qc_flag"].isin(self.assessable_flags)]

    # --- surface water -----------------------------------------------------------------------

    def water_day_values(self, month: Month, sections=None) -> pd.DataFrame:
        """One row per section, day and indicator that meets the day rule: station_id, day,
        parameter, value (the day mean), count (values in it), month ('YYYY-MM')."""
        key = ("water-days", month, None if sections is None else tuple(sorted(sections)))
        everything = ("water-days", month, None)
        if everything in self._cache and sections is not None:
            frame = self._cache[everything]
            return frame[frame["station_id"].isin(list(sections))]
        if key not in self._cache:
            from pipelines.ingest import history  # the batched path's station-and-day keys: one call for the month

            usable = self._assessable(self._observations("water", month, sections))
            means = daily.surface_water_daily_means(history._day_keyed(usable)) if len(usable) else pd.DataFrame(
                columns=["station_id", "parameter", "mean", "count"])
            if len(means):
                stations, days = history._split_keys(means["station_id"])
                means = means.assign(station_id=stations, day=days)
            else:
                means = means.assign(day=[])
            frame = means.rename(columns={"mean": "value"})[["station_id", "day", "parameter", "value", "count"]]
            self._cache[key] = frame.sort_values(["station_id", "day", "parameter"]).reset_index(drop=True).assign(
                month=month.label)
        return self._cache[key]

    def section_days(self, section_id: str, months, sections=None) -> pd.DataFrame:
        """A section's valid day values over `months`: parameter, value, day, month ('YYYY-MM').
        `sections`: the set of sections read with it (a narrower read than all of them)."""
        parts = [self.water_day_values(m, sections) for m in months]
        frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
            columns=["station_id", "day", "parameter", "value", "count", "month"])
        return frame[frame["station_id"] == section_id].reset_index(drop=True)

    # --- air ---------------------------------------------------------------------------------

    def air_station_days(self, month: Month) -> pd.DataFrame:
        """One row per station and day of the month with data: station_id, city, day and the
        daily values of daily.air_day_values under that day's rules (NaN where not valid)."""
        key = ("air-station-days", month)
        if key not in self._cache:
            stations = registry.air_stations(month.last)
            days = [month.first + timedelta(days=n) for n in range(month.days)]
            observations = self._assessable(self._observations("air", month))
            grid = daily.hourly_grid(observations, list(stations.index), days)  # the nightly series, all at once
            rows = []
            for s, station_id in enumerate(stations.index):
                for d, day in enumerate(days):
                    if np.isnan(grid[s, d]).all():
                        continue
                    hourly = {code: pd.Series(grid[s, d, p]) for p, code in enumerate(air_quality.POLLUTANTS)}
                    values = daily.air_day_values(hourly, day)
                    rows.append({"station_id": station_id, "city": stations.loc[station_id, "city"], "day": day,
                                 **{c: (np.nan if values.get(c) is None else values[c]) for c in AIR_DAY_COLUMNS}})
            self._cache[key] = pd.DataFrame(rows, columns=["station_id", "city", "day", *AIR_DAY_COLUMNS])
        return self._cache[key]

    def air_city_days(self, month: Month) -> pd.DataFrame:
        """One row per city and day with a value: city, day and the city's daily values by
        air_quality.city_daily_values (the mean of its stations' valid values, aqi_conventions.csv
        city_daily_value), the O3 daily maximum 1-h by the same rule."""
        key = ("air-city-days", month)
        if key not in self._cache:
            stations = self.air_station_days(month)
            parts = []
            for city, rows in stations.groupby("city", sort=False):
                values = air_quality.city_daily_values(rows)
                # the same rule for the 1-h O3 maximum, which city_daily_values does not carry
                one_hour = air_quality.city_daily_values(rows[["station_id", "day"]].assign(o3_8h=rows["o3"]))
                values["o3"] = one_hour["o3_8h"]
                parts.append(values.assign(city=city, day=[d.date() for d in values.index]))
            frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["city", "day"])
            frame = frame.reindex(columns=["city", "day", *AIR_DAY_COLUMNS])
            self._cache[key] = frame.dropna(how="all", subset=list(AIR_DAY_COLUMNS)).reset_index(drop=True)
        return self._cache[key]

    # --- coastal -----------------------------------------------------------------------------

    def sea_samples(self, month: Month) -> pd.DataFrame:
        """The assessable samples of the sea points, with `survey`: the survey a coastal file
        named, else ROUTINE_SURVEY."""
        frame = self._assessable(self._observations("sea", month)).copy()
        frame["survey"] = [_survey(detail) for detail in frame["detail"]]
        return frame

    # --- what the pipeline stored from the observations (the annual assessment) -----------------

    def monthly_rollups(self, parameters, stations, through_year: int) -> pd.DataFrame:
        """The stored monthly means of `stations` and `parameters`, every year up to `through_year`
        (the seasonal Kendall's series): read once, and kept with an issue like the observations."""
        read = ("rollups", "month", tuple(sorted(parameters)), tuple(sorted(stations)), int(through_year))
        if read not in self._cache:
            self._cache[read] = self._kept(read, self._fetch_rollups(read, parameters, sorted(stations),
                                                                     int(through_year)))
        return self._cache[read]

    def air_annual_statistics(self, year: int) -> pd.DataFrame:
        """The cities' stored HJ 663 statistics of the closed `year` (table air_annual_statistics;
        empty where the pipeline has not closed it): read once, kept with an issue."""
        read = ("air_annual", int(year))
        if read not in self._cache:
            self._cache[read] = self._kept(read, self._fetch_air_annual(read, int(year)))
        return self._cache[read]

    # --- status and lineage ------------------------------------------------------------------

    def read_counts(self, months=None) -> pd.DataFrame:
        """Values read (of `months`, default all), by domain, source, QC flag and censoring."""
        if not self._read_counts:
            return pd.DataFrame(columns=["source", "qc_flag", "censored", "has_value", "values", "domain", "month"])
        frame = pd.concat(self._read_counts, ignore_index=True)
        return frame if months is None else frame[frame["month"].isin([m.label for m in months])]

    def lineage(self, reads) -> dict:
        """The batches and payloads of the observations read; the partitions of `reads` (the
        (domain, month) pairs the document reads), each with the batch it was last loaded from;
        and the newest load among them (the document's time stamp)."""
        partitions = self._kept(("partitions",), self._fetch_partitions(reads))
        batches = pd.concat(self._batches, ignore_index=True) if self._batches else pd.DataFrame(
            columns=[*LINEAGE_COLUMNS, "first_day", "last_day", "rows"])
        if len(batches):  # a batch read in two reads (two months, or water and coastal) is one batch
            batches = (batches.groupby(LINEAGE_COLUMNS, dropna=False, sort=False)
                       .agg(first_day=("first_day", "min"), last_day=("last_day", "max"), rows=("rows", "sum"))
                       .reset_index().sort_values(["source", "first_day", "batch_id"], kind="stable")
                       .reset_index(drop=True))
        ids = sorted({int(i) for i in batches["payload_id"].dropna()})
        payloads = self._kept(("payloads",), self._fetch_payloads(ids)) if ids else pd.DataFrame(
            columns=["payload_id", "source", "origin", "sha256", "received_at", "fetched_at", "status"])
        loaded = pd.to_datetime(partitions["loaded_at"], utc=True) if len(partitions) else pd.Series(dtype=object)
        return {"partitions": partitions, "batches": batches, "payloads": payloads,
                "newest_load": None if loaded.empty else loaded.max().to_pydatetime()}


def frame_digest(frame: pd.DataFrame) -> str:
    """A digest of a frame's rows whatever their order: each row as text (Python's shortest float
    repr, ISO times), the rows sorted. Text, not pandas' own hashing, so that a library upgrade
    does not change the version of data that did not change."""
    import hashlib

    columns = sorted(frame.columns)
    if not len(frame):
        return hashlib.sha256(("\x1f".join(columns) + "\n").encode()).hexdigest()
    cells = [frame[c].map(_cell_text) for c in columns]
    rows = cells[0].str.cat(cells[1:], sep="\x1f") if len(cells) > 1 else cells[0]
    text = "\x1f".join(columns) + "\n" + "\n".join(sorted(rows.tolist()))
    return hashlib.sha256(text.encode()).hexdigest()


def _cell_text(value) -> str:
    if value is None or (isinstance(value, float) and value != value) or value is pd.NaT:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (float, np.floating)):   # an id kept as a float beside a missing one reads as the int
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)


def _survey(detail) -> str:
    if not detail:
        return ROUTINE_SURVEY
    try:
        return json.loads(detail).get("survey") or ROUTINE_SURVEY
    except (TypeError, ValueError):
        return ROUTINE_SURVEY
