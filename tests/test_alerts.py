import json
from datetime import date

from sqlalchemy import create_engine

from pipelines.reference import registry
from pipelines.alerts import raise_alerts
from pipelines.config import load_settings
from warehouse import db

DAY = date(2026, 11, 20)


def _failed_assessment(station_id="jiuzhou-wenchequiao"):
    return {"station_id": station_id, "period": "day", "period_start": DAY, "domain": "surface_water",
            "standard": "GB 3838-2002", "water_class": "劣Ⅴ", "target_class": "Ⅲ", "is_compliant": False,
            "grade": "重度污染", "indicators_assessed": "nh3n;tp",
            "failing_parameters": json.dumps([{"parameter": "nh3n", "value": 2.4, "class": "劣Ⅴ",
                                               "multiple_vs_target": 1.4, "multiple_vs_class_iii": 1.4}]),
            "values_used": 12, "is_cross_boundary": True, "status": "assessed"}


def _setup(tmp_path, environ):
    settings = load_settings({"ENVMON_HOME": str(tmp_path), **environ})
    engine = create_engine(settings.warehouse_url)
    db.migrate(engine)
    return settings, engine


def _smtp_environ(controller):
    return {"ENVMON_SMTP_HOST": controller.hostname, "ENVMON_SMTP_PORT": str(controller.port),
            "ENVMON_ALERT_FROM": "envmon@test.local"}


def test_a_failed_cross_boundary_assessment_is_mailed_to_the_bureaus_once(tmp_path, smtp_server):
    controller, handler = smtp_server
    settings, engine = _setup(tmp_path, _smtp_environ(controller))
    first = raise_alerts(engine, [_failed_assessment()], settings, "simulated")
    assert (first.raised, first.sent) == (1, 1)
    recipients, message = handler.messages[0]
    expected = {r.email for r in registry.responsible_bureaus("jiuzhou-wenchequiao")}
    assert set(recipients) == expected
    assert "鼠岭(文车桥)" in message["Subject"] and "跨界断面未达标" in message["Subject"]
    body = message.get_content()
    assert "氨氮" in body and "1.40 倍" in body and "simulated" in body
    again = raise_alerts(engine, [_failed_assessment()], settings, "simulated")
    assert (again.raised, again.sent) == (0, 0) and len(handler.messages) == 1
    stored = db.read_table(engine, "alerts")
    assert len(stored) == 1 and stored["delivery_status"][0] == "sent"


def test_compliant_or_inland_sections_raise_nothing(tmp_path, smtp_server):
    controller, handler = smtp_server
    settings, engine = _setup(tmp_path, _smtp_environ(controller))
    compliant = {**_failed_assessment(), "is_compliant": True}
    inland = {**_failed_assessment("nanliu-yaqiao"), "is_cross_boundary": False}
    assert raise_alerts(engine, [compliant, inland], settings, "simulated").raised == 0
    assert handler.messages == []


def test_without_smtp_the_alert_waits_in_the_outbox_and_is_sent_later(tmp_path, smtp_server):
    settings, engine = _setup(tmp_path, {})
    summary = raise_alerts(engine, [_failed_assessment()], settings, "simulated")
    assert summary.written_to_outbox == 1 and len(list((tmp_path / "outbox").glob("*.eml"))) == 1
    controller, handler = smtp_server
    configured, _ = _setup(tmp_path, _smtp_environ(controller))
    later = raise_alerts(engine, [_failed_assessment()], configured, "simulated")
    assert (later.raised, later.sent) == (0, 1) and len(handler.messages) == 1


def test_an_unreachable_server_marks_the_alert_failed_and_the_next_run_sends_it(tmp_path, smtp_server):
    from tests.conftest import free_port

    settings, engine = _setup(tmp_path, {"ENVMON_SMTP_HOST": "127.0.0.1", "ENVMON_SMTP_PORT": str(free_port())})
    summary = raise_alerts(engine, [_failed_assessment()], settings, "simulated")
    assert summary.failed == 1
    stored = db.read_table(engine, "alerts")
    assert stored["delivery_status"][0] == "failed" and "Connection" in stored["delivery_detail"][0]
    # the next run, the server reachable: the same alert goes out, none is raised again
    controller, handler = smtp_server
    reachable, _ = _setup(tmp_path, _smtp_environ(controller))
    later = raise_alerts(engine, [_failed_assessment()], reachable, "simulated")
    assert (later.raised, later.sent) == (0, 1) and len(handler.messages) == 1
    stored = db.read_table(engine, "alerts")
    assert (len(stored), stored["delivery_status"][0], stored["attempts"][0]) == (1, "sent", 2)
