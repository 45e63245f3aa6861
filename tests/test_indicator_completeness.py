"""Issue 21 ("indicators incomplete") and issue 20 (no data is not a failure): a GB 3838 section-day
or month without a valid value of a required indicator (pH, DO, CODMn, NH3-N, TP;
pipelines/reference/data/required_indicators.csv) is never compliant and never closes an episode;
a day without valid data never opens one; a long silence is one operational notice."""
from datetime import date, timedelta

import pandas as pd

from pipelines import alerts
from pipelines.alerts import episodes
from pipelines.assessment import daily, surface_water
from pipelines.reference import registry
from tests.alert_helpers import NH3N_FOR_CLASS, OTHER_VALUES, night_after, write_day
from tests.test_alerts import make_world, notices  # noqa: F401 (the same world as the alert tests)
from warehouse import alert_store, db

import pytest

SECTION = "nanliu-hengtang"   # target Ⅲ


@pytest.fixture
def world(tmp_path, monkeypatch):
    with make_world(tmp_path, monkeypatch) as made:
        yield made


def test_the_required_indicators_are_the_five_of_the_method_for_rivers_and_lakes():
    # TN is left out for lakes too: the 2011 method does not evaluate it (standards.md §1, §2.1)
    assert surface_water.required_indicators("river") == ("ph", "do", "codmn", "nh3n", "tp")
    assert surface_water.required_indicators("lake") == ("ph", "do", "codmn", "nh3n", "tp")


def test_worked_example_a_day_without_tp_is_incomplete_not_compliant():
    values = {"ph": 7.4, "do": 6.1, "codmn": 3.2, "nh3n": 0.4}      # each class Ⅱ; TP's column renamed away
    verdict = surface_water.classify(values, "river", "Ⅲ")
    assert verdict.is_compliant is True                               # what the old rule said
    status, missing = surface_water.status_of(verdict, values, "river")
    assert (status, missing) == ("indicators incomplete", ["tp"])
    assert surface_water.verdict_under(status, verdict.is_compliant) is None


def test_worked_example_a_failure_on_what_is_present_stays_a_failure_but_incomplete():
    values = {"ph": 7.4, "do": 6.1, "codmn": 3.2, "nh3n": 1.8}      # NH3-N class Ⅴ, target Ⅲ; no TP
    verdict = surface_water.classify(values, "river", "Ⅲ")
    status, _ = surface_water.status_of(verdict, values, "river")
    assert status == "indicators incomplete"
    assert surface_water.verdict_under(status, verdict.is_compliant) is False


def test_a_scheme_asks_only_for_the_required_indicators_it_assesses():
    values = {"ph": 7.4, "codmn": 3.2, "nh3n": 0.4, "tp": 0.1, "bod5": 2.0}   # no DO: 九洲江's scheme has none
    verdict = surface_water.classify(values, "river", "Ⅲ", indicators=("ph", "codmn", "nh3n", "tp", "bod5"))
    assert surface_water.status_of(verdict, values, "river", ("ph", "codmn", "nh3n", "tp", "bod5"))[0] == "assessed"
    assert surface_water.status_of(verdict, values, "river")[0] == "indicators incomplete"


def _observations(section_id: str, day: date, values: dict) -> pd.DataFrame:
    start = pd.Timestamp(day, tz="Asia/Shanghai")
    rows = [{"station_id": section_id, "parameter": code, "observed_at": start + pd.Timedelta(hours=4 * i),
             "averaging_period": "PT0S", "value": value, "qc_flag": "not_evaluated", "source": "cnemc-water"}
            for code, value in values.items() for i in range(6)]
    return pd.DataFrame(rows)


def test_the_day_assessment_of_a_section_without_tp_says_indicators_incomplete():
    day = date(2026, 11, 3)
    values = {"ph": 7.4, "do": 6.1, "codmn": 3.2, "nh3n": 0.4}
    rows = {r["station_id"]: r for r in daily.assess_surface_water_day(_observations(SECTION, day, values), day)}
    assert rows[SECTION]["status"] == "indicators incomplete"
    assert rows[SECTION]["is_compliant"] is None
    complete = {**values, "tp": 0.1}
    rows = {r["station_id"]: r for r in daily.assess_surface_water_day(_observations(SECTION, day, complete), day)}
    assert (rows[SECTION]["status"], rows[SECTION]["is_compliant"]) == ("assessed", True)


def test_the_many_days_path_gives_the_same_status():
    day = date(2026, 11, 3)
    frame = _observations(SECTION, day, {"ph": 7.4, "do": 6.1, "codmn": 3.2, "nh3n": 1.8}).assign(partition_day=day)
    rows = {r["station_id"]: r for r in daily.assess_surface_water_days(frame, [day])}
    assert (rows[SECTION]["status"], rows[SECTION]["is_compliant"]) == ("indicators incomplete", False)


def test_an_incomplete_day_is_neither_a_failure_nor_a_compliant_day_for_episodes():
    incomplete = {"status": "indicators incomplete", "is_compliant": False, "water_class": "Ⅴ", "target_class": "Ⅲ",
                  "failing_parameters": "[]"}
    failing_month = {**incomplete, "status": "assessed"}
    state = episodes.day_state(date(2026, 11, 4), incomplete, failing_month)
    assert (state.assessed, state.failing) == (False, False)
    no_data = episodes.day_state(date(2026, 11, 5), None, {**failing_month, "is_compliant": True})
    assert (no_data.assessed, no_data.failing) == (False, False)


def _write_incomplete_day(engine, day: date, section_id: str, values: dict) -> None:
    """The day of `section_id` as the nightly run stores it from these day means (rollups too)."""
    section = registry.sections().loc[section_id]
    row = daily.surface_water_day_row(section_id, section, day, values, {code: 6 for code in values})
    db.replace_assessments(engine, "surface_water", day, [row])
    if values:
        db.replace_rollups(engine, "day", day, pd.DataFrame([
            {"station_id": section_id, "parameter": p, "averaging_period": "PT0S", "period": "day", "period_start": day,
             "mean": v, "minimum": v, "maximum": v, "values_assessable": 6, "values_flagged": 0, "values_censored": 0,
             "days_with_data": 1, "detection_limit": None, "reported_mean": str(v), "censoring_method": None}
            for p, v in values.items()]))


def test_a_failing_section_whose_tp_went_missing_never_closes_its_episode(world):
    days = [date(2026, 11, 1) + timedelta(days=i) for i in range(12)]
    for day in days[:2]:                                   # NH3-N class Ⅴ: an episode opens
        write_day(world.engine, day, {SECTION: "Ⅴ"})
        world.clock.set(night_after(day))
        alerts.run(world.settings, [day], "test")
    no_tp = {k: v for k, v in OTHER_VALUES.items() if k != "tp"} | {"nh3n": NH3N_FOR_CLASS["Ⅱ"]}
    for day in days[2:8]:                                  # six days "compliant" on what is left, TP gone
        _write_incomplete_day(world.engine, day, SECTION, no_tp)
        world.clock.set(night_after(day))
        alerts.run(world.settings, [day], "test")
    [episode] = alert_store.list_episodes(world.engine, section_id=SECTION)
    assert episode["status"] == "open" and episode["last_failed_on"] == days[1]
    assert not [n for n in notices(world.engine) if n["kind"] == "resolved"]
    for day in days[8:11]:                                 # three complete compliant days resolve it
        write_day(world.engine, day, {SECTION: "Ⅱ"})
        world.clock.set(night_after(day))
        alerts.run(world.settings, [day], "test")
    [episode] = alert_store.list_episodes(world.engine, section_id=SECTION)
    assert (episode["status"], episode["resolved_on"]) == ("resolved", days[10])


def test_a_long_silence_is_one_notice_and_opens_no_episode(world):
    world.routing.operational["section_silent_after_days"] = 7   # the default, said
    first = date(2026, 11, 1)
    write_day(world.engine, first, {SECTION: "Ⅱ"})
    runs = []
    for offset in range(1, 15):                                 # two weeks without valid data
        day = first + timedelta(days=offset)
        _write_incomplete_day(world.engine, day, SECTION, {})
        world.clock.set(night_after(day))
        runs.append(alerts.run(world.settings, [day], "test"))
    silent = [n for n in notices(world.engine) if n["kind"] == "section_silent"]
    assert len(silent) == 1 and silent[0]["subject_id"] == SECTION
    assert [r["sections_silent"] for r in runs].count([SECTION]) == 1
    assert runs[6]["sections_silent"] == [SECTION]              # day 7 without valid data
    assert alert_store.list_episodes(world.engine, section_id=SECTION) == []
    from pipelines.alerts import messages
    import json
    text = "\n".join(messages.operational_lines(json.loads(silent[0]["facts"]), "en"))
    assert "no valid data for 7 days" in text
