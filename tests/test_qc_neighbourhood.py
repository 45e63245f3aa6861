"""A batch's QC neighbours coded once (qc.Neighbourhood, behind batches._Neighbours) give the same
flags and notes as the frame context it replaces (issue 27): each payload of a batch QC'd against
the stored days before it and the batch's earlier payloads.

The reference (`FrameNeighbours`) is batches._Neighbours as it was before: the stored rows as a
frame, each payload's context those of its days less the keys it replaces (a join), and its rows
merged in (a join and a concatenation of the whole frame). Both run batches._store's QC loop on the
same payloads; `_Neighbours` reads the "warehouse" through bulk.source_observations_between, which
the tests answer from a frame of stored rows.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pandas as pd
import pytest

from pipelines.ingest import batches
from pipelines.ingest.batches import CONTEXT_COLUMNS
from pipelines.observations import KEY_COLUMNS, bureau_day, conform, with_partition_day
from pipelines.quality import qc

from tests.conftest import FORMATS, real_data  # noqa: E402

AIR_HOUR = "cnemc-air/national-hourly-2026-03-15T12.csv"
AIR_SAMPLE = FORMATS / AIR_HOUR
NOW = datetime(2026, 11, 10, tzinfo=timezone.utc)


class FrameNeighbours:
    """batches._Neighbours before issue 27's change: the reference."""

    def __init__(self, rows: pd.DataFrame):
        self.rows = rows

    def context(self, good, first, last):
        rows = self.rows[(self.rows["partition_day"] >= first) & (self.rows["partition_day"] <= last)]
        key = list(KEY_COLUMNS)
        replaced = rows[key].merge(good[key].drop_duplicates(), on=key, how="left", indicator=True)["_merge"] == "both"
        return rows[~replaced.to_numpy()].drop(columns=["partition_day", "payload_id"]).reset_index(drop=True)

    def merge(self, good, payload_id):
        if good.empty:
            return
        key = list(KEY_COLUMNS)
        mine = good.reindex(columns=CONTEXT_COLUMNS).assign(payload_id=payload_id)
        joined = self.rows[key + ["payload_id"]].merge(mine[key], on=key, how="left", indicator=True)
        hit = joined["_merge"].eq("both").to_numpy()
        newer = hit & (pd.to_numeric(joined["payload_id"]).fillna(-1).to_numpy() > payload_id)
        if newer.any():
            kept = self.rows[newer][key]
            mine = mine.merge(kept, on=key, how="left", indicator=True)
            mine = mine[mine["_merge"] == "left_only"].drop(columns="_merge")
        self.rows = pd.concat([self.rows[~hit | newer], mine], ignore_index=True)


def _between(store):
    def read(engine, source, first, last, columns):
        rows = store[(store["partition_day"] >= first) & (store["partition_day"] <= last)]
        return rows.reindex(columns=columns).reset_index(drop=True)
    return read


def _qc_batch(store: pd.DataFrame, goods: list[pd.DataFrame], ids: list[int], reference: bool, monkeypatch):
    """batches._store's QC stage over one batch, the warehouse holding `store`."""
    from warehouse import bulk

    spans = [(min(d), max(d)) for d in (bureau_day(g["observed_at"], g["averaging_period"]) for g in goods)]
    first, last = min(s[0] for s in spans) - timedelta(days=1), max(s[1] for s in spans)
    if reference:
        neighbours = FrameNeighbours(_between(store)(None, "s", first, last, CONTEXT_COLUMNS))
    else:
        monkeypatch.setattr(bulk, "source_observations_between", _between(store))
        neighbours = batches._Neighbours(None, "s", first, last)
    out = []
    for payload_id, good, span in zip(ids, goods, spans):
        context = neighbours.context(good, span[0] - timedelta(days=1), span[1])
        done = with_partition_day(qc.apply(good, now=NOW, context=context if len(context) else None))
        neighbours.merge(done, payload_id)
        out.append(done)
    return out


def _stored(goods: list[pd.DataFrame], ids: list[int], before: pd.DataFrame | None = None) -> pd.DataFrame:
    """What the warehouse holds after storing these payloads in order (a later payload's row of a key wins)."""
    rows = [with_partition_day(g).reindex(columns=CONTEXT_COLUMNS[:-1]).assign(payload_id=i)
            for g, i in zip(goods, ids)]
    frame = pd.concat(([before] if before is not None and len(before) else []) + rows, ignore_index=True)
    return frame.sort_values("payload_id", kind="stable").drop_duplicates(list(KEY_COLUMNS), keep="last") \
        .reset_index(drop=True)


def _both(store, batches_of, monkeypatch):
    """Each batch QC'd with the reference and with _Neighbours: (reference results, new results)."""
    results = {True: [], False: []}
    for reference in (True, False):
        held = store
        for goods, ids in batches_of:
            done = _qc_batch(held, goods, ids, reference, monkeypatch)
            results[reference] += done
            held = _stored(goods, ids, held)
    return results[True], results[False]


def _assert_same(expected: list[pd.DataFrame], got: list[pd.DataFrame]):
    assert len(expected) == len(got)
    for number, (a, b) in enumerate(zip(expected, got)):
        pd.testing.assert_frame_equal(a[["qc_flag", "qc_note"]], b[["qc_flag", "qc_note"]], obj=f"payload {number}")


def _payload(rows: list[tuple[str, str, float]], parameter="pm2_5") -> pd.DataFrame:
    """An hourly air payload: (station, local time, value) rows."""
    times = pd.to_datetime([t for _, t, _ in rows]).tz_localize("Asia/Shanghai").tz_convert("UTC")
    values = [v for _, _, v in rows]
    return conform(pd.DataFrame({
        "station_id": [s for s, _, _ in rows], "parameter": parameter, "observed_at": times,
        "utc_offset_minutes": 480, "averaging_period": "PT1H", "value": values, "unit": "µg/m³",
        "qc_flag": "not_evaluated", "qc_note": "", "source": "cnemc-air", "batch_id": "b",
        "original_value": [str(v) for v in values], "layer": "", "censoring": ""}))


def _hours(station, day, hours, values):
    return [(station, f"{day} {h:02d}:00", v) for h, v in zip(hours, values)]


def test_windowed_cases_match_the_frame_context(monkeypatch):
    """The day before, a gap over midnight, a station first seen in the second payload, a late
    payload for an earlier hour, a revised value, a stored row of a later payload that stays, a
    flat line over midnight: the same flags and notes, and the tests did speak."""
    before = "2026-11-01"
    day = "2026-11-02"
    stored_rows = (_hours("S1", before, range(0, 22), [30 + (h % 3) for h in range(22)])     # ends 21:00
                   + _hours("S2", before, range(0, 24), [40 + (h % 2) for h in range(24)])
                   + _hours("S4", before, range(17, 24), [5.0] * 7)
                   + _hours("S4", day, [0], [5.0]))                                 # flat into the day
    # (a reading at 00:00 ends the hour before midnight: it belongs to the day before, as a bureau day)
    stored = _stored([_payload(stored_rows)], [1])
    newer = _stored([_payload(_hours("S2", day, [7], [400.0]))], [99])      # logged after the batch's payloads
    store = pd.concat([stored, newer], ignore_index=True)
    payloads = [
        _payload(_hours("S1", day, [2], [31]) + _hours("S2", day, [2], [41]) + _hours("S4", day, [1], [5.0])),
        _payload(_hours("S1", day, [3], [32]) + _hours("S2", day, [3], [40]) + _hours("S3", day, [3], [20])),
        _payload(_hours("S1", day, [4], [30]) + _hours("S3", day, [4], [21])
                 + _hours("S2", day, [4, 5, 6], [41, 40, 41])),
        _payload(_hours("S1", day, [6], [31]) + _hours("S3", day, [6], [22])),
        _payload(_hours("S1", day, [5], [290]) + _hours("S3", day, [5], [21])),  # late: between 4 and 6
        _payload(_hours("S2", day, [3], [250])),                                          # revised hour 3
        _payload(_hours("S2", day, [7], [41])),                                           # the stored later one stays
        _payload(_hours("S2", day, [8], [42]) + _hours("S1", day, [7], [31])),
    ]
    assert {bureau_day(p["observed_at"], p["averaging_period"]).min() for p in payloads} == {date(2026, 11, 2)}
    ids = list(range(10, 10 + len(payloads)))
    expected, got = _both(store, [(payloads[:4], ids[:4]), (payloads[4:], ids[4:])], monkeypatch)
    _assert_same(expected, got)
    notes = pd.concat(expected)["qc_note"]
    assert notes.str.contains("gap of 5.0 h").any()          # S1 21:00 → 02:00, seen through the day before
    assert notes.str.contains("spike").any()                 # the late hour 5 between 4 and 6
    assert notes.str.contains("flat line").any()             # S4 over midnight
    assert notes.str.contains("rate of change").any()        # the revision, and hour 8 after the stored 400


def _national_air_days(monkeypatch, days):
    from pipelines.clock import nightly_run_time
    from pipelines.sources import files, simulator

    stations = simulator.feed_air_stations(AIR_SAMPLE.read_bytes())
    codes = pd.Index(stations["stationcode"].astype(str).unique())
    monkeypatch.setattr(files.registry, "air_stations", lambda: pd.DataFrame(index=codes))  # national scope
    out = []
    for day in days:
        fetched = nightly_run_time(day + timedelta(days=1))
        payloads = simulator.national_air_day(day, 20260301, stations)
        out.append([files.PARSERS["cnemc-air"](body, fetched, name=f"national-air-{when:%Y%m%dT%H%M}.csv",
                                               fetched_basis="the simulated fetch").observations
                    for when, body in sorted(payloads.items())])
    return out


@pytest.mark.real_data
def test_two_national_days_match_the_frame_context(monkeypatch):
    """A national air day (1,601 stations, 24 hourly payloads) and the next, in batches as ingest
    makes them (BATCH_OBSERVATIONS): the second day's payloads see the first as their day before
    (a tenth of the stations silent in its first three hours: gaps over midnight)."""
    real_data(AIR_HOUR)   # skips, saying why, where ../shared is absent
    days = _national_air_days(monkeypatch, [date(2026, 11, 1), date(2026, 11, 2)])
    silent = set(days[1][0]["station_id"].unique()[::10])     # a tenth of the stations silent 3 h after midnight
    days[1][:3] = [frame[~frame["station_id"].isin(silent)].reset_index(drop=True) for frame in days[1][:3]]
    per_batch = -(-batches.BATCH_OBSERVATIONS // len(days[0][0]))      # payloads until a batch is full
    batched, number = [], 0
    for frames in days:
        for start in range(0, len(frames), per_batch):
            chunk = frames[start:start + per_batch]
            batched.append((chunk, list(range(number, number + len(chunk)))))
            number += len(chunk)
    assert sum(len(f) for f in days[0]) == 1601 * 12 * 24
    empty = with_partition_day(days[0][0]).reindex(columns=CONTEXT_COLUMNS).iloc[:0]
    empty = empty.astype({"payload_id": "int64"})
    expected, got = _both(empty, batched, monkeypatch)
    _assert_same(expected, got)
    assert (pd.concat(expected)["qc_flag"] == "suspect").any()
    assert pd.concat(expected[len(days[0]):])["qc_note"].str.contains("gap of").any()
