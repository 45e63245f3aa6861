"""The dashboard's figures from the warehouse's rollups."""
from datetime import date

import pandas as pd

from dashboards import report
from pipelines.reference import registry
from pipelines.assessment import rollups
from pipelines.observations import conform


def _censored_day():
    times = pd.date_range("2026-11-20 09:00", periods=2, freq="1h", tz="Asia/Shanghai")
    frame = conform(pd.DataFrame({
        "station_id": "nanliu-hengtang", "parameter": "nh3n", "observed_at": times, "utc_offset_minutes": 480,
        "averaging_period": "PT0S", "value": [0.025, 0.025], "unit": "mg/L", "qc_flag": "good", "qc_note": "",
        "source": "lab", "batch_id": "b", "original_value": ["ND", "ND"]}))
    frame["censoring"], frame["detection_limit"] = "<", 0.025
    return rollups.daily(frame, date(2026, 11, 20))


def test_the_section_series_shows_a_mean_below_the_detection_limit_as_below_it():
    stations = registry.all_stations()
    figure = report.section_series(stations, _censored_day())
    hovers = [(trace.customdata, trace.hovertemplate) for trace in figure.data if trace.customdata is not None
              and len(trace.customdata)]
    assert len(hovers) == 1
    customdata, template = hovers[0]
    assert customdata[0][2] == "< 0.025" and customdata[0][3] == 2
    assert "daily mean %{customdata[2]}" in template
