"""The operators' alerts (a silent source, a night's quarantine far above usual, published classes
disagreeing far more than usual, a failed DAG run, a station the registry lacks), the run
summary that names what failed, and a late payload through `envmon ingest` alerted once."""
import json
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import insert

from pipelines import alerts
from pipelines.alerts import operational, routing as routing_module
from tests.alert_helpers import (
    Receiver, install_clock, routing_file, secrets_environment, settings_for, write_day,
)
from warehouse import alert_store, db, schema


@pytest.fixture
def ops(tmp_path, monkeypatch):
    receiver = Receiver()
    secrets_environment(monkeypatch)
    path = routing_file(tmp_path, receiver.url)
    settings, engine = settings_for(tmp_path, path)
    monkeypatch.setenv("ENVMON_HOME", str(settings.home))
    monkeypatch.setenv("ENVMON_ALERT_ROUTING", str(path))
    fake = install_clock(monkeypatch, datetime(2026, 11, 20, 2, 30, tzinfo=timezone.utc))
    yield SimpleNamespace(receiver=receiver, settings=settings, engine=engine, clock=fake,
                          routing=routing_module.load(path))
    receiver.stop()


def operational_notices(engine):
    return [n for n in alert_store.notices_since(engine, datetime(2000, 1, 1, tzinfo=timezone.utc))
            if n["category"] == "operational"]


def test_a_silent_source_raises_one_operational_alert(ops):
    db.advance_watermark(ops.engine, "cnemc-air", datetime(2026, 11, 20, 0, 0, tzinfo=timezone.utc))
    db.advance_watermark(ops.engine, "cnemc-water", datetime(2026, 11, 20, 0, 0, tzinfo=timezone.utc))
    assert operational.check_silent_sources(ops.engine, ops.routing) == []        # 2.5 h: within its cadence
    for hours in (4, 1, 1, 5, 12):        # the air feed is 6.5 h, then 20 h silent; the water feed allows 12 h
        ops.clock.advance(hours=hours)
        operational.check_silent_sources(ops.engine, ops.routing)
        alerts.deliver(ops.settings, ops.routing)
    silent = [n for n in operational_notices(ops.engine) if n["kind"] == "source_silent"]
    assert sorted(n["subject_id"] for n in silent) == ["cnemc-air", "cnemc-water"]
    hooks = [p for _, p, _ in ops.receiver.accepted_on("/webhook/ops")]
    assert len(hooks) == 2 and {h["facts"]["subject_id"] for h in hooks} == {"cnemc-air", "cnemc-water"}
    assert "没有新数据" in hooks[0]["text"]
    # the feed comes back: told once; silent again later: a new alert, once
    db.advance_watermark(ops.engine, "cnemc-air", ops.clock.now() - timedelta(hours=1))
    operational.check_silent_sources(ops.engine, ops.routing)
    operational.check_silent_sources(ops.engine, ops.routing)
    ops.clock.advance(hours=8)
    operational.check_silent_sources(ops.engine, ops.routing)
    operational.check_silent_sources(ops.engine, ops.routing)
    kinds = [(n["kind"], n["subject_id"]) for n in operational_notices(ops.engine) if n["subject_id"] == "cnemc-air"]
    assert kinds == [("source_silent", "cnemc-air"), ("source_back", "cnemc-air"), ("source_silent", "cnemc-air")]


def _log(engine, day: date, read: int, quarantined: int, source: str = "cnemc-water") -> None:
    with engine.begin() as connection:
        connection.execute(insert(schema.partition_log), [{
            "source": source, "partition_day": day, "domain": "water", "batch_id": f"b{day}", "rows_read": read,
            "rows_loaded": read - quarantined, "rows_quarantined": quarantined, "suite_name": "s",
            "loaded_at": datetime(2026, 11, 20, tzinfo=timezone.utc)}])


def test_a_night_quarantining_far_more_than_usual_raises_one_alert(ops):
    first = date(2026, 10, 20)
    for offset in range(30):
        _log(ops.engine, first + timedelta(days=offset), 1000, 20 + offset % 3)     # about 2 % every night
    _log(ops.engine, date(2026, 11, 19), 1000, 35)                                    # 3.5 %: not far above
    _log(ops.engine, date(2026, 11, 20), 1000, 400)                                   # 40 %
    assert operational.check_quarantine_share(ops.engine, ops.routing, date(2026, 11, 19)) == []
    assert operational.check_quarantine_share(ops.engine, ops.routing, date(2026, 11, 20)) == ["cnemc-water"]
    assert operational.check_quarantine_share(ops.engine, ops.routing, date(2026, 11, 20)) == []
    (notice,) = operational_notices(ops.engine)
    facts = json.loads(notice["facts"])
    assert facts["share"] == pytest.approx(0.4) and facts["usual"] == pytest.approx(0.021, abs=0.002)


def test_published_classes_disagreeing_far_more_than_usual_raise_one_alert(ops):
    rows = []
    for offset in range(12):
        day = date(2026, 11, 8) + timedelta(days=offset)
        disagreeing = 30 if day == date(2026, 11, 19) else 1
        for hour in range(24):
            for station in range(2):
                at = datetime(day.year, day.month, day.day, hour, tzinfo=routing_module.BUREAU_TZ)
                rows.append({"source": "cnemc-water", "station_id": f"s{station}", "observed_at": at,
                             "published_class": "Ⅱ", "agrees": not (hour * 2 + station < disagreeing)})
    with ops.engine.begin() as connection:
        connection.execute(insert(schema.published_results), rows)
    assert operational.check_published_disagreement(ops.engine, ops.routing, date(2026, 11, 18)) == []
    assert operational.check_published_disagreement(ops.engine, ops.routing, date(2026, 11, 19)) == ["cnemc-water"]
    assert operational.check_published_disagreement(ops.engine, ops.routing, date(2026, 11, 19)) == []


def test_a_failed_dag_run_alerts_the_operators_once(ops):
    task_instance = SimpleNamespace(dag_id="envmon_nightly", run_id="scheduled__2026-11-20T18:00:00+00:00",
                                    task_id="assess", log_url="http://airflow.local/log")
    context = {"task_instance": task_instance, "exception": RuntimeError("the warehouse went away")}
    alerts.on_failure(context)
    alerts.on_failure({**context, "task_instance": SimpleNamespace(**{**vars(task_instance), "task_id": "alert"})})
    (notice,) = operational_notices(ops.engine)
    assert notice["kind"] == "dag_failed" and notice["is_urgent"]
    (hook,) = [p for _, p, _ in ops.receiver.accepted_on("/webhook/ops")]
    assert "流程运行失败" in hook["subject"] and "RuntimeError: the warehouse went away" in hook["text"]


def test_a_callback_that_cannot_record_does_not_raise(ops, monkeypatch):
    monkeypatch.setenv("ENVMON_ALERT_ROUTING", "/nonexistent/routing.toml")
    alerts.on_failure({"task_instance": None})   # logged, not raised: Airflow's own failure stands


def test_unknown_stations_are_reported_once_each(ops):
    assert operational.report_unknown_stations("cnemc-water", ["那坡", "那坡", "百色"], ops.settings) == 2
    assert operational.report_unknown_stations("cnemc-water", ["那坡"], ops.settings) == 0
    assert len(ops.receiver.accepted_on("/webhook/ops")) == 2


def test_the_run_summary_names_each_failing_section_and_the_episodes(ops):
    from pipelines.alerts import report
    from pipelines.cli.summary import run_summary

    started = datetime(2026, 11, 2, 18, 0, tzinfo=timezone.utc)
    ops.clock.set(started)
    for day in (date(2026, 11, 1), date(2026, 11, 2)):
        write_day(ops.engine, day, {"nanliu-hengtang": "Ⅴ" if day.day == 2 else "Ⅱ", "jiuzhou-wenchequiao": "Ⅱ"})
    alerts.run(ops.settings, [date(2026, 11, 2)], "simulated (test)")
    summary = run_summary(ops.engine, [date(2026, 11, 2)], started, "dash", "simulated (test)")
    (day_failure,) = [f for f in summary["failing_sections"] if f["period"] == "day"]
    assert day_failure == {"section_id": "nanliu-hengtang", "section_name": "横塘", "period": "day",
                           "period_start": "2026-11-02", "water_class": "Ⅴ", "target_class": "Ⅲ",
                           "items": [{"parameter": "nh3n", "class": "Ⅴ", "multiple_vs_target": 0.8}]}
    (opened,) = summary["alerts"]["episodes_opened"]
    assert opened["section_name"] == "横塘" and opened["worst_class"] == "Ⅴ" and summary["alerts_raised"] == 1
    text = "\n".join(report.lines(summary))
    assert "failing: 横塘 (nanliu-hengtang) 2026-11-02 day: Ⅴ / target Ⅲ; nh3n ×0.80" in text
    assert "episode opened: #1 横塘" in text
    assert "deliveries sent 3, pending 0, held 3, failed 0" in text   # the e-mails wait for an SMTP server
    assert "3 e-mails held: no SMTP server (ENVMON_SMTP_HOST), so they are written as .eml files" in text


LAB_HEADER = "sample_id,section_id,sampled_at,lab,parameter,result,unit,detection_limit,method\n"


def _lab_file(path, nh3n: float):
    rows = [("ph", 7.4, "无量纲"), ("do", 7.1, "mg/L"), ("codmn", 2.9, "mg/L"), ("nh3n", nh3n, "mg/L"),
            ("tp", 0.08, "mg/L")]
    path.write_text(LAB_HEADER + "".join(
        f"YL-2026-1103-01,nanliu-hengtang,2026-11-03 09:40,玉林市环境监测站,{code},{value},{unit},,HJ\n"
        for code, value, unit in rows), encoding="utf-8")
    return path


def test_a_late_payload_that_turns_a_day_into_a_failure_is_alerted_exactly_once(ops, tmp_path, monkeypatch):
    """`envmon ingest` of a revised laboratory result for a day already assessed compliant: the
    ingest path re-assesses the day and runs the alert step; ingesting it again tells nobody."""
    from pipelines.cli.commands import main

    ops.clock.set(datetime(2026, 11, 5, 9, 0, tzinfo=routing_module.BUREAU_TZ))
    first = _lab_file(tmp_path / "lab-1103.csv", 0.31)
    assert main(["ingest", "--source", "lab", "--file", str(first), "--fetched-at", "2026-11-04T10:00:00+08:00"]) == 0
    assert alert_store.notices_since(ops.engine, datetime(2000, 1, 1, tzinfo=timezone.utc)) == []
    revised = _lab_file(tmp_path / "lab-1103-revised.csv", 2.6)   # the laboratory's corrected ammonia
    for _ in range(2):
        assert main(["ingest", "--source", "lab", "--file", str(revised), "--fetched-at", "2026-11-05T08:00:00+08:00"]) == 0
    (notice,) = alert_store.notices_since(ops.engine, datetime(2000, 1, 1, tzinfo=timezone.utc))
    assert (notice["kind"], notice["subject_id"], notice["effective_on"]) == ("opened", "nanliu-hengtang", date(2026, 11, 3))
    assert json.loads(notice["facts"])["worst_class"] == "劣Ⅴ"
    assert len(ops.receiver.accepted_on("/webhook/gx")) == 1
