"""Alerts that reach a person: a deployment whose SMTP server is unreachable and whose robot secret is
missing tells its operators through the second path (an Airflow connection, not the outbox), and
`envmon alerts health` shows the backlog; a failed run with the warehouse down is told the same
way; `envmon alerts check-channels` (the init job's check) refuses a live deployment that cannot
reach the operators and every bureau, and passes one whose channels take a test message."""
import json
from datetime import date, datetime, timezone
from types import SimpleNamespace

import pytest

from pipelines import alerts
from pipelines.alerts import fallback, health
from pipelines.cli.commands import main
from pipelines.config import load_settings
from pipelines.reference import registry
from tests.alert_helpers import (
    WEBHOOK_SECRET, FlakySmtpHandler, Receiver, install_clock, routing_file, secrets_environment, smtp_controller,
    write_day,
)
from tests.conftest import free_port
from warehouse import db

SECOND_PATH = "/webhook/second-path"
LIVE = {"ENVMON_SOURCE_MODE": "live", "ENVMON_CNEMC_WATER_URL": "http://127.0.0.1:9/water",
        "ENVMON_CNEMC_AIR_URL": "http://127.0.0.1:9/air/{timepoint}"}


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def smtp():
    handler = FlakySmtpHandler()
    controller = smtp_controller(handler)
    yield SimpleNamespace(handler=handler, host=controller.hostname, port=controller.port)
    controller.stop()


def _environment(monkeypatch, tmp_path, routing, smtp_port=None, second_path=None, **extra):
    monkeypatch.setenv("ENVMON_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ENVMON_ALERT_ROUTING", str(routing))
    if smtp_port:
        monkeypatch.setenv("ENVMON_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("ENVMON_SMTP_PORT", str(smtp_port))
        monkeypatch.setenv("ENVMON_ALERT_FROM", "envmon@test.local")
    if second_path:
        monkeypatch.setenv("AIRFLOW_CONN_ENVMON_OPERATORS", second_path)
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    engine = db.engine_for(settings.warehouse_url)
    db.migrate(engine)
    return settings, engine


def _webhook_path(receiver) -> str:
    """The second path as an Airflow connection URI: the receiver's webhook, signed with its secret."""
    return f"http://:{WEBHOOK_SECRET}@127.0.0.1:{receiver.server.server_address[1]}{SECOND_PATH}"


def _failure(task_id: str, error: Exception, dag_id: str = "envmon_nightly") -> dict:
    task_instance = SimpleNamespace(dag_id=dag_id, run_id="scheduled__2026-11-03T18:00:00+00:00", task_id=task_id,
                                    log_url="http://airflow.local/log")
    return {"task_instance": task_instance, "exception": error}


def test_smtp_unreachable_and_a_robot_secret_missing_reach_the_operators_through_the_second_path(
        tmp_path, monkeypatch, receiver, capsys):
    secrets_environment(monkeypatch)
    monkeypatch.delenv("ENVMON_TEST_WECOM_KEY")                     # the robot secret missing
    routing = routing_file(tmp_path, receiver.url, delivery={"backlog_alert_minutes": 60},
                           operators=[{"name": "ops", "channel": "email", "address": "ops@envmon-ops.cn"}])
    unreachable = free_port()                                       # nothing listens: SMTP refused
    settings, engine = _environment(monkeypatch, tmp_path, routing, smtp_port=unreachable,
                                    second_path=_webhook_path(receiver))
    clock = install_clock(monkeypatch, datetime(2026, 11, 3, 10, 0, tzinfo=timezone.utc))   # 18:00 in Beijing
    write_day(engine, date(2026, 11, 2), {"nanliu-hengtang": "劣Ⅴ"})
    alerts.run(settings, [date(2026, 11, 2)], "simulated (test)")

    # a failed task: its notice is recorded, but the operators' only channel (e-mail) is down
    alerts.on_failure(_failure("assess", RuntimeError("the feed answered 500")))
    (told,) = [p for _, p, _ in receiver.accepted_on(SECOND_PATH)]
    assert "流程运行失败" in told["subject"] and "RuntimeError: the feed answered 500" in told["text"]
    assert told["facts"]["task_id"] == "assess"

    # within the backlog limit: health is fine, the backlog check passes
    assert main(["alerts", "health"]) == 0
    assert health.check_backlog()["overdue"] == 0

    clock.advance(minutes=75)
    alerts.housekeeping()                      # the hourly DAG's task: still nothing goes out
    assert main(["alerts", "health", "--json"]) == 1
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["older_than_minutes"] == 60
    email, wecom = report["channels"]["email"], report["channels"]["wecom"]
    assert email["pending"] >= 2 and email["overdue"] == email["pending"] + email["held"] + email["failed"]
    assert email["oldest_minutes"] == pytest.approx(75, abs=1) and "ConnectionRefusedError" in email["last_error"]
    assert wecom["held"] >= 1 and wecom["overdue"] == wecom["held"]
    assert "ENVMON_TEST_WECOM_KEY is not set" in wecom["last_error"]
    assert report["channels"].get("dingtalk", {"overdue": 0})["overdue"] == 0     # the robots that work sent
    yulin = next(r for r in report["recipients"] if r["recipient_id"] == "yulin/wecom/玉林值班群")
    assert yulin["held"] >= 1

    # the alert DAG's backlog check fails, and its failure callback tells the operators on the second path
    with pytest.raises(health.DeliveryBacklog) as raised:
        health.check_backlog()
    alerts.on_failure(_failure(alerts.BACKLOG_TASK_ID, raised.value, dag_id="envmon_alerts"))
    hooks = [p for _, p, _ in receiver.accepted_on(SECOND_PATH)]
    assert len(hooks) == 2
    assert "告警投递积压" in hooks[1]["text"] and "ENVMON_TEST_WECOM_KEY" in hooks[1]["text"]
    assert "email" in hooks[1]["text"] and "wecom" in hooks[1]["text"]


def test_a_failed_run_with_the_warehouse_down_reaches_the_operators_through_the_second_path(
        tmp_path, monkeypatch, receiver):
    secrets_environment(monkeypatch)
    routing = routing_file(tmp_path, receiver.url)
    monkeypatch.setenv("ENVMON_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ENVMON_ALERT_ROUTING", str(routing))
    monkeypatch.setenv("ENVMON_WAREHOUSE_URL", f"postgresql+psycopg://envmon@127.0.0.1:{free_port()}/envmon")
    monkeypatch.setenv("ENVMON_DB_CONNECT_TIMEOUT", "2")
    monkeypatch.setenv("AIRFLOW_CONN_ENVMON_OPERATORS", _webhook_path(receiver))
    alerts.on_failure(_failure("prepare_warehouse", ConnectionError("PostgreSQL is down")))   # does not raise
    (told,) = [p for _, p, _ in receiver.accepted_on(SECOND_PATH)]
    assert "ConnectionError: PostgreSQL is down" in told["text"] and "发件箱" in told["text"]
    assert receiver.accepted_on("/webhook/ops") == []          # the outbox's operators' hook: never reached


def test_a_live_component_without_the_warehouse_uses_the_second_path_and_makes_no_local_warehouse(
        tmp_path, monkeypatch, receiver):
    """The dag-processor runs the failure callbacks of tasks that died outside their process, and
    holds no warehouse URL (docker-compose.yml): it must not make an embedded SQLite to record in."""
    for name, value in {**LIVE, "ENVMON_HOME": str(tmp_path / "home"),
                        "AIRFLOW_CONN_ENVMON_OPERATORS": _webhook_path(receiver)}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ENVMON_WAREHOUSE_URL", raising=False)
    alerts.on_failure(_failure("collect_cnemc_air", RuntimeError("heartbeat timeout"), dag_id="envmon_collect_cnemc_air"))
    (told,) = [p for _, p, _ in receiver.accepted_on(SECOND_PATH)]
    assert "no warehouse" in told["text"] and "RuntimeError: heartbeat timeout" in told["text"]
    assert not (tmp_path / "home" / "warehouse.db").exists()


def test_the_second_path_may_be_an_smtp_connection(tmp_path, monkeypatch, smtp):
    monkeypatch.setenv("AIRFLOW_CONN_ENVMON_OPERATORS",
                       f"smtp://127.0.0.1:{smtp.port}/?to=ops%40envmon-ops.cn&from=envmon%40test.local")
    monkeypatch.setenv("ENVMON_WAREHOUSE_URL", f"postgresql+psycopg://envmon@127.0.0.1:{free_port()}/envmon")
    monkeypatch.setenv("ENVMON_DB_CONNECT_TIMEOUT", "2")
    alerts.on_failure(_failure("assess", RuntimeError("boom")))
    ((recipients, message),) = smtp.handler.messages
    assert recipients == ["ops@envmon-ops.cn"] and "流程运行失败" in message["Subject"]
    assert "RuntimeError: boom" in message.get_body(("plain",)).get_content()


def test_without_a_second_path_the_callback_still_does_not_raise(monkeypatch):
    monkeypatch.setenv("ENVMON_ALERT_ROUTING", "/nonexistent/routing.toml")
    with pytest.raises(fallback.NoSecondPath, match="AIRFLOW_CONN_ENVMON_OPERATORS"):
        fallback.second_path()
    alerts.on_failure(_failure("assess", RuntimeError("boom")))   # logged: nothing else to try


def test_deliveries_held_back_by_quiet_hours_are_not_overdue(tmp_path, monkeypatch, receiver, capsys):
    secrets_environment(monkeypatch)
    routing = routing_file(tmp_path, receiver.url, recipients=[
        {"bureau": "yulin", "channel": "wecom", "name": "玉林值班群", "url": f"{receiver.url}/wecom/cgi-bin/webhook/send",
         "key": "env:ENVMON_TEST_WECOM_KEY", "quiet_hours": "22:00-07:30"}])
    settings, engine = _environment(monkeypatch, tmp_path, routing)
    clock = install_clock(monkeypatch, datetime(2026, 11, 3, 15, 0, tzinfo=timezone.utc))   # 23:00 in Beijing
    from pipelines.alerts import outbox as outbox_module

    with engine.begin() as connection:    # a bureau's non-urgent copy, recorded in its quiet hours
        outbox_module.record(connection, alerts.load_routing(settings),
                             {"notice_key": "test/quiet", "category": "operational", "kind": "source_back",
                              "episode_id": None, "subject_id": "cnemc-air", "is_urgent": False,
                              "effective_on": None, "facts": "{}"},
                             list(alerts.load_routing(settings).recipients), clock.now())
    clock.advance(hours=3)                  # 02:00 in Beijing: still quiet, due at 07:30
    report = health.backlog(engine, 60)
    assert report["channels"]["wecom"] == {"pending": 1, "held": 0, "failed": 0, "deferred": 1, "overdue": 0,
                                           "oldest_minutes": None, "last_error": None}
    clock.advance(hours=7)                  # 09:00: due for 90 minutes and still not sent
    report = health.backlog(engine, 60)
    assert report["channels"]["wecom"]["overdue"] == 1
    assert report["channels"]["wecom"]["oldest_minutes"] == pytest.approx(90)


# --- envmon alerts check-channels: the init job's refusal -------------------------------------

def _every_bureau_routing(tmp_path, url: str, drop_email_of=()) -> object:
    """Every bureau of bureaus.csv by e-mail (real-looking addresses), three robots and a webhook,
    the operators on a webhook."""
    recipients = [{"bureau": b, "channel": "email", "address": f"duty@{b}-hb.cn"}
                  for b in registry.bureaus().index if b not in drop_email_of]
    recipients += [
        {"bureau": "qinzhou", "channel": "wecom", "name": "钦州值班群", "url": f"{url}/wecom/qz/cgi-bin/webhook/send",
         "key": "env:ENVMON_TEST_WECOM_KEY"},
        {"bureau": "zhanjiang", "channel": "dingtalk", "name": "湛江值班群", "url": f"{url}/dingtalk/robot/send",
         "access_token": "env:ENVMON_TEST_DINGTALK_TOKEN", "secret": "env:ENVMON_TEST_DINGTALK_SECRET"},
        {"bureau": "gx-dept", "channel": "webhook", "name": "自治区厅", "url": f"{url}/webhook/gx",
         "secret": "env:ENVMON_TEST_WEBHOOK_SECRET"}]
    return routing_file(tmp_path, url, recipients=recipients)


def test_check_channels_passes_when_every_channel_takes_a_test_message(tmp_path, monkeypatch, receiver, smtp, capsys):
    secrets_environment(monkeypatch)
    routing = _every_bureau_routing(tmp_path, receiver.url)
    _environment(monkeypatch, tmp_path, routing, smtp_port=smtp.port, second_path=_webhook_path(receiver), **LIVE)
    assert main(["alerts", "check-channels", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["required"] and report["problems"] == []
    assert all(r["ok"] and r["tested"] for r in report["recipients"])
    assert sorted(to for tos, _ in smtp.handler.messages for to in tos) == \
        sorted(f"duty@{b}-hb.cn" for b in registry.bureaus().index)
    paths = sorted(path for path, _, _ in receiver.accepted)
    assert paths == sorted(["/wecom/qz/cgi-bin/webhook/send", "/dingtalk/robot/send", "/webhook/gx", "/webhook/ops",
                            SECOND_PATH])
    assert receiver.rejected == []


def test_check_channels_refuses_a_live_start_naming_a_missing_secret(tmp_path, monkeypatch, receiver, smtp, capsys):
    secrets_environment(monkeypatch)
    monkeypatch.delenv("ENVMON_TEST_WECOM_KEY")
    routing = _every_bureau_routing(tmp_path, receiver.url, drop_email_of=("qinzhou",))   # 钦州: the robot alone
    _environment(monkeypatch, tmp_path, routing, smtp_port=smtp.port, second_path=_webhook_path(receiver), **LIVE)
    assert main(["alerts", "check-channels"]) == 1
    err = capsys.readouterr().err
    (problem,) = [line for line in err.splitlines() if "no working channel" in line or "second path" in line]
    assert "bureau qinzhou has no working channel" in problem and "ENVMON_TEST_WECOM_KEY is not set" in problem


def test_check_channels_refuses_a_live_start_without_any_channel(tmp_path, monkeypatch, capsys):
    """The packaged routing as it ships: placeholder addresses, robots disabled; no SMTP server, no
    second path."""
    monkeypatch.setenv("ENVMON_HOME", str(tmp_path / "home"))
    for name, value in LIVE.items():
        monkeypatch.setenv(name, value)
    assert main(["alerts", "check-channels", "--no-send"]) == 1
    err = capsys.readouterr().err
    assert "the operators have no working channel (operators/email/envmon-ops: envmon-ops@bureaus.envmon.example " \
           "is a placeholder address" in err
    for bureau in registry.bureaus().index:
        assert f"bureau {bureau} has no working channel" in err
    assert "the operators' second path does not work (Airflow connection envmon_operators is not defined" in err


def test_check_channels_with_smtp_unreachable_fails_on_the_test_message(tmp_path, monkeypatch, receiver, capsys):
    secrets_environment(monkeypatch)
    routing = routing_file(tmp_path, receiver.url, recipients=[{"bureau": "beihai", "channel": "email",
                                                                 "address": "duty@beihai-hb.cn"}])
    _environment(monkeypatch, tmp_path, routing, smtp_port=free_port(), second_path=_webhook_path(receiver), **LIVE)
    assert main(["alerts", "check-channels"]) == 1
    err = capsys.readouterr().err
    assert "bureau beihai has no working channel (beihai/email/duty@beihai-hb.cn: test message not accepted: " \
           "ConnectionRefusedError" in err


def test_the_simulated_default_needs_no_channel_and_says_where_e_mails_go(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ENVMON_HOME", str(tmp_path / "home"))
    assert main(["alerts", "check-channels"]) == 0
    err = capsys.readouterr().err
    assert f"written to {tmp_path / 'home' / 'outbox'} as .eml files" in err
    assert main(["alerts", "check-channels", "--required", "--no-send"]) == 1   # asked for: the same refusal as live


def test_the_alert_dag_fails_its_backlog_check_and_its_callback_uses_the_second_path(
        tmp_path, monkeypatch, receiver):
    """The hourly envmon_alerts DAG run in-process (dag.test): its housekeeping sends what it can,
    its check_delivery_backlog fails on the e-mails and the robot stuck for 75 minutes, and
    Airflow's failure callback tells the operators through the second path."""
    secrets_environment(monkeypatch)
    monkeypatch.delenv("ENVMON_TEST_WECOM_KEY")
    routing = routing_file(tmp_path, receiver.url, delivery={"backlog_alert_minutes": 60},
                           operators=[{"name": "ops", "channel": "email", "address": "ops@envmon-ops.cn"}])
    settings, engine = _environment(monkeypatch, tmp_path, routing, smtp_port=free_port(),
                                    second_path=_webhook_path(receiver), **LIVE)
    clock = install_clock(monkeypatch, datetime(2026, 11, 3, 10, 0, tzinfo=timezone.utc))
    write_day(engine, date(2026, 11, 2), {"nanliu-hengtang": "劣Ⅴ"})
    alerts.run(settings, [date(2026, 11, 2)], "simulated (test)")
    clock.advance(minutes=75)

    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db as airflow_db

    from pipelines.runner import DAGS_FOLDER

    # the bundle dag.test syncs the DAG from (Airflow's dags_folder is read once per process: the session's)
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps([{
        "name": "envmon-dags", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {"path": str(DAGS_FOLDER)}}]))
    for name in ("DAG_ID", "DAG_OWNER", "DAG_RUN_ID", "LOGICAL_DATE", "TASK_ID", "TRY_NUMBER"):
        monkeypatch.setenv(f"AIRFLOW_CTX_{name}", "")   # dag.test sets these in-process: undone after the test
    airflow_db.upgradedb()
    bag = DagBag(dag_folder=str(DAGS_FOLDER / "envmon_alerts.py"))
    assert bag.import_errors == {}
    run = bag.dags["envmon_alerts"].test(logical_date=datetime(2026, 11, 3, 11, 40, tzinfo=timezone.utc))
    states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in run.get_task_instances()}
    assert states == {"housekeeping": "success", alerts.BACKLOG_TASK_ID: "failed"}
    (told,) = [p for _, p, _ in receiver.accepted_on(SECOND_PATH)]
    assert "告警投递积压" in told["text"] and "DeliveryBacklog" in told["text"]
    assert "ENVMON_TEST_WECOM_KEY is not set" in told["text"] and told["facts"]["dag_id"] == "envmon_alerts"


@pytest.mark.airflow_deployment
@pytest.mark.postgres
def test_under_the_real_scheduler_the_init_checks_the_channels_and_a_stuck_outbox_reaches_the_operators(
        tmp_path, monkeypatch, receiver):
    """The deployment as docker-compose.yml runs it, in live mode (tests/airflow_cluster.py,
    LocalExecutor): the init job's `envmon alerts check-channels` sends its test messages and
    passes (玉林's robot lacks its secret, but 玉林 has e-mail). Then the SMTP server goes away; a
    failing section's notices stay pending (e-mail) and held (the robot); the envmon_alerts DAG,
    triggered, fails check_delivery_backlog, and the task's failure callback, in Airflow's own task
    process, tells the operators through the second path; `envmon alerts health` shows the backlog."""
    import os
    import subprocess
    import time

    from pipelines import clock
    from tests.airflow_cluster import BIN, AirflowCluster

    handler = FlakySmtpHandler()
    controller = smtp_controller(handler)
    smtp_port = controller.port
    recipients = [{"bureau": b, "channel": "email", "address": f"duty@{b}-hb.cn"} for b in registry.bureaus().index]
    recipients.append({"bureau": "yulin", "channel": "wecom", "name": "玉林值班群",
                       "url": f"{receiver.url}/wecom/cgi-bin/webhook/send", "key": "env:ENVMON_TEST_ABSENT_WECOM_KEY"})
    routing = routing_file(tmp_path, receiver.url, recipients=recipients, delivery={"backlog_alert_minutes": 0.05},
                           operators=[{"name": "ops", "channel": "email", "address": "ops@envmon-ops.cn"}])
    environment = {**LIVE, "ENVMON_ALERT_ROUTING": str(routing), "ENVMON_SMTP_HOST": "127.0.0.1",
                   "ENVMON_SMTP_PORT": str(smtp_port), "ENVMON_ALERT_FROM": "envmon@test.local",
                   "AIRFLOW_CONN_ENVMON_OPERATORS": _webhook_path(receiver),
                   clock.NOW_VARIABLE: os.environ[clock.NOW_VARIABLE]}   # one clock for the test and the cluster
    try:
        with AirflowCluster(tmp_path / "cluster", executor="LocalExecutor", use_job_schedule=False,
                            extra_env=environment) as cluster:
            init_log = (cluster.component_logs / "init.log").read_text(encoding="utf-8", errors="replace")
            assert "yulin/wecom/玉林值班群: yulin/wecom/玉林值班群 key: environment variable " \
                   "ENVMON_TEST_ABSENT_WECOM_KEY is not set" in init_log
            assert len(handler.messages) == len(registry.bureaus()) + 1          # the tests at start
            assert len(receiver.accepted_on(SECOND_PATH)) == 1
            controller.stop()                                                     # the SMTP server goes away
            controller = None

            for name, value in {**environment, "ENVMON_WAREHOUSE_URL": cluster.warehouse_url,
                                "ENVMON_HOME": str(tmp_path / "home")}.items():
                monkeypatch.setenv(name, value)
            settings = load_settings()
            write_day(db.engine_for(settings.warehouse_url), date(2026, 12, 30), {"nanliu-hengtang": "劣Ⅴ"})
            alerts.run(settings, [date(2026, 12, 30)], "simulated (test)")
            time.sleep(4)                                                         # past 0.05 minutes

            cluster.wait_until(lambda: cluster.query("metadata", "SELECT 1 FROM serialized_dag WHERE dag_id = :d",
                                                     d="envmon_alerts"), 120, "envmon_alerts to be serialized")
            run_id = cluster.trigger("envmon_alerts")["run_id"]
            cluster.wait_until(lambda: next((r for r in cluster.runs("envmon_alerts") if r["run_id"] == run_id
                                             and r["state"] in ("success", "failed")), None), 240,
                               "the envmon_alerts run to end")
            states = {t["task_id"]: t["state"] for t in cluster.task_instances(run_id, "envmon_alerts")}
            assert states == {"housekeeping": "success", alerts.BACKLOG_TASK_ID: "failed"}, cluster.diagnostics(run_id)
            cluster.wait_until(lambda: len(receiver.accepted_on(SECOND_PATH)) >= 2, 60, "the second path's message")
            told = receiver.accepted_on(SECOND_PATH)[1][1]
            assert "告警投递积压" in told["text"] and "ENVMON_TEST_ABSENT_WECOM_KEY" in told["text"]
            assert "ConnectionRefusedError" in told["text"] and told["facts"]["run_id"] == run_id

            result = subprocess.run([str(BIN / "envmon"), "alerts", "health", "--json"], env=cluster.env(),
                                    capture_output=True, text=True, timeout=120)
            assert result.returncode == 1, result.stderr
            report = json.loads(result.stdout.strip().splitlines()[-1])
            assert report["channels"]["email"]["overdue"] >= 3 and report["channels"]["wecom"]["held"] == 1
    finally:
        if controller is not None:
            controller.stop()
