"""The national water response's reading (issue 27): the feed's markers (qc_source_markers.csv) and the
registry's section look-ups are built once per payload, not once per record (a frame filtered and a
.loc per record were most of a 1,900-section response's parse), and the parse is the same, value for
value, as reading every record with the markers looked up afresh (the reference path of _water_cells)."""
from __future__ import annotations

import json
from datetime import date, datetime

import pandas as pd
import pytest

from pipelines.observations import BUREAU_TZ
from pipelines.reference import registry
from pipelines.sources import files, simulator
from tests.conftest import real_data

WATER_SNAPSHOT = "cnemc-water/publish-ashx-2020-05-08.json"
DAY = date(2026, 11, 1)


def _simulated_with_faults() -> tuple[bytes, datetime]:
    """A simulated 4-hourly response of the registry's feed sections (read at beibu scope) with a
    station status for each marker, publisher tooltips, bad numbers, short and non-list records."""
    sections = registry.cnemc_water_sections()[["province", "basin", "name_zh"]].reset_index(drop=True)
    assert len(sections) >= 8
    when, body = next(iter(simulator.national_water_day(DAY, 7, sections).items()))
    document = json.loads(body)
    rows = document["tbody"]
    rows[0][-1] = "维护"
    rows[1][-1] = "停站"
    rows[2][-1] = "不具备运行条件"
    rows[3][7] = "<span title='极值过滤'>--</span>"
    rows[4][8] = "<span title='当天质控不合格'>5.1</span>"
    rows[5][9] = "abc"
    rows[6][10] = "<span title='原始值：1,2'>1.2</span>"
    rows[7] = rows[7][:6]  # short
    rows.append("not a record")
    rows.append([*rows[0][:3], "", "", *rows[0][5:]])  # no reading
    return json.dumps(document, ensure_ascii=False).encode("utf-8"), when


def _payloads():
    simulated, when = _simulated_with_faults()
    real = real_data(WATER_SNAPSHOT).read_bytes()
    return [(simulated, when + pd.Timedelta(hours=1)), (real, datetime(2020, 5, 8, 16, 0, tzinfo=BUREAU_TZ))]


def _parts(parsed) -> dict:
    return {"observations": parsed.observations, "rejected": parsed.rejected, "published": parsed.published,
            "out_of_scope": parsed.out_of_scope, "read": parsed.read, "notes": parsed.notes,
            "warnings": parsed.warnings, "unknown_stations": parsed.unknown_stations}


@pytest.mark.parametrize("which", [0, 1], ids=["simulated-with-faults", "real-national-snapshot"])
def test_the_water_parse_equals_the_per_record_reference(which, monkeypatch):
    payload, fetched = _payloads()[which]
    fast = _parts(files.parse_cnemc_water(payload, fetched, name="national-water.json"))
    original = files._water_cells
    # the reference: each record's markers looked up afresh, as _water_cells does when given none
    monkeypatch.setattr(files, "_water_cells", lambda *args, **kw: original(*args[:6]))
    reference = _parts(files.parse_cnemc_water(payload, fetched, name="national-water.json"))
    assert len(fast["observations"]) > 0
    if which == 0:  # every fault made is there, with its flag or reason
        assert {"suspect", "fail"} <= set(fast["observations"]["qc_flag"])
        assert {"number", "row_short", "record_not_a_list", "no_reading"} <= set(fast["rejected"]["rule"])
    for key, value in fast.items():
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(value, reference[key], check_exact=True)
        else:
            assert value == reference[key], key


def test_the_markers_are_read_once_per_payload_not_per_record(monkeypatch):
    payload, fetched = _payloads()[0]
    calls = []
    original = files._marker_flags
    monkeypatch.setattr(files, "_marker_flags", lambda: calls.append(1) or original())
    parsed = files.parse_cnemc_water(payload, fetched, name="national-water.json")
    assert parsed.observations["station_id"].nunique() > 2
    assert len(calls) == 1
