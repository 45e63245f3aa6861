import json
from datetime import date

import pytest

from expectations import build
from pipelines.sources import simulator
from pipelines.quality.validation import SUITE_DIR, validate

DAY = date(2026, 11, 20)


@pytest.mark.parametrize("dataset", sorted(build.DATASET_PARAMETERS))
def test_committed_suites_are_the_ones_the_metadata_generates(dataset):
    committed = json.loads((SUITE_DIR / f"{dataset}.json").read_text(encoding="utf-8"))
    assert committed == build.suite_for(dataset), "run `make suites` after changing the metadata"


def _water_batch():
    # the simulator's clean world (faults "none"): these tests plant their own bad rows and expect
    # exactly those quarantined; the default world's faults are met in tests/test_simulator.py
    return simulator.simulate_water(DAY, 1, "none")


def test_a_clean_batch_passes_whole():
    frame = _water_batch()
    assert (frame["value"] != simulator.SENSOR_ERROR_CODE).all()
    outcome = validate(frame, "water")
    assert len(outcome.good) == len(frame) and outcome.quarantined.empty


def test_bad_rows_are_quarantined_with_the_rule_they_failed_in_words_beside_its_id():
    frame = _water_batch()
    frame.loc[0, ["parameter", "value"]] = ["ph", 15.2]
    frame.loc[1, ["parameter", "value"]] = ["nh3n", simulator.SENSOR_ERROR_CODE]
    frame.loc[2, "station_id"] = "no-such-section"
    frame.loc[3, ["value", "qc_flag"]] = [float("nan"), "not_evaluated"]
    outcome = validate(frame, "water")
    held = outcome.quarantined.set_index(outcome.quarantined.index)
    reasons = dict(zip(zip(held["station_id"], held["parameter"], held["value"].astype(str)), held["reason"]))
    assert len(outcome.good) + len(outcome.quarantined) == len(frame)
    assert "above the instrument's upper limit for ph: 15.2 > 14" in reasons.values()
    assert "below the instrument's lower limit for nh3n: \u22129999 < 0 mg/L" in reasons.values()
    assert "station 'no-such-section' is not in the registry" in reasons.values()
    assert "no value, though its QC flag is 'not_evaluated', not 'missing'" in reasons.values()
    rules = set(outcome.quarantined["rule"])
    assert {"expect_column_values_to_be_in_set(station_id)", "expect_column_values_to_not_be_null(value)",
            "expect_column_pair_values_a_to_be_greater_than_b(instrument_max, value)",
            "expect_column_pair_values_a_to_be_greater_than_b(value, instrument_min)"} <= rules
    assert set(outcome.quarantined["expectation"]) <= {
        "expect_column_pair_values_a_to_be_greater_than_b", "expect_column_values_to_be_in_set",
        "expect_column_values_to_not_be_null"}


def test_a_missing_value_marked_missing_is_kept():
    frame = _water_batch().head(5).copy()
    frame.loc[0, ["value", "qc_flag"]] = [float("nan"), "missing"]
    outcome = validate(frame, "water")
    assert len(outcome.good) == 5


def test_negative_air_concentration_is_quarantined():
    frame = simulator.simulate_air(DAY, 1)
    frame.loc[0, ["parameter", "value"]] = ["pm2_5", -3.0]
    outcome = validate(frame, "air")
    assert (outcome.quarantined["value"] == -3.0).any()


def test_data_docs_sites_share_compiled_templates_and_hold_the_run(tmp_path, monkeypatch):
    import jinja2

    frame = _water_batch()
    validate(frame, "water", docs_dir=tmp_path / "first")
    compiled = []
    original = jinja2.Environment.compile
    monkeypatch.setattr(jinja2.Environment, "compile",
                        lambda self, *args, **kwargs: compiled.append(args[1:2]) or original(self, *args, **kwargs))
    validate(frame, "water", docs_dir=tmp_path / "second")
    assert compiled == []   # every template came from the shared cache
    pages = list((tmp_path / "second" / "validations").rglob("*.html"))
    page = pages[0].read_text(encoding="utf-8")
    assert len(pages) == 1 and "envmon_water_observations" in page and "Evaluated Expectations" in page
    assert "nanliu-hengtang" in page   # the registry's sections, as the suite's value set
    assert (tmp_path / "second" / "index.html").exists() and not (tmp_path / "second" / "profiling").exists()
