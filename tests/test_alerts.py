"""Alerts as a duty officer meets them: episodes with one notice per state change, delivered once
to real receivers on loopback (aiosmtpd, an HTTP server checking the WeCom, DingTalk and webhook
formats and signatures), acknowledged and resolved with an audit trail, escalated when nobody
answers; and the operators' alerts."""
import contextlib
import json
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from pipelines import alerts
from pipelines.alerts import channels, messages, outbox, routing as routing_module, sections
from tests.alert_helpers import (
    FlakySmtpHandler, Receiver, install_clock, night_after, routing_file, secrets_environment, settings_for,
    smtp_controller, write_day,
)
from warehouse import alert_store

SECTION = "nanliu-hengtang"       # 南流江 横塘, target Ⅲ: Yulin upstream; Beihai and Qinzhou downstream
NOVEMBER = [date(2026, 11, 1) + timedelta(days=i) for i in range(30)]


@contextlib.contextmanager
def make_world(tmp_path, monkeypatch, warehouse_url=None):
    """Receivers, SMTP, a clock the test moves, and a warehouse with the test routing."""
    receiver = Receiver()
    handler = FlakySmtpHandler()
    controller = smtp_controller(handler)
    secrets_environment(monkeypatch)
    routing = routing_file(tmp_path, receiver.url)
    settings, engine = settings_for(tmp_path, routing, smtp=controller, warehouse_url=warehouse_url)
    fake = install_clock(monkeypatch, night_after(date(2026, 10, 31)))
    try:
        yield SimpleNamespace(receiver=receiver, smtp=handler, settings=settings, engine=engine, clock=fake,
                              routing=routing_module.load(routing), tmp=tmp_path)
    finally:
        controller.stop()
        receiver.stop()


@pytest.fixture
def world(tmp_path, monkeypatch):
    with make_world(tmp_path, monkeypatch) as made:
        yield made


@pytest.fixture
def pg_world(tmp_path, monkeypatch, postgres_url):
    with make_world(tmp_path, monkeypatch, postgres_url) as made:
        yield made


def night(world, day: date, classes: dict | None = None, label: str = "simulated (test)") -> dict:
    if classes is not None:
        write_day(world.engine, day, classes)
    world.clock.set(night_after(day))
    return alerts.run(world.settings, [day], label)


def notices(engine) -> list[dict]:
    return alert_store.notices_since(engine, datetime(2000, 1, 1, tzinfo=timezone.utc))


def three_week_schedule(day: date) -> str:
    """Class Ⅳ 11-06…11-12, Ⅴ 11-13…11-26, compliant (Ⅱ) otherwise."""
    if date(2026, 11, 6) <= day <= date(2026, 11, 12):
        return "Ⅳ"
    if date(2026, 11, 13) <= day <= date(2026, 11, 26):
        return "Ⅴ"
    return "Ⅱ"


def run_three_weeks(world) -> list[date]:
    days = NOVEMBER + [date(2026, 12, 1), date(2026, 12, 2), date(2026, 12, 3)]
    for day in days:
        night(world, day, {SECTION: three_week_schedule(day)})
    return days


def test_a_three_week_failure_gives_exactly_three_notices(world):
    """Opened on the first failed day, worsened when Ⅳ becomes Ⅴ, resolved after three compliant
    days: the November month to date fails until the month ends, so it resolves on 12-03."""
    check_three_weeks(world)


@pytest.mark.postgres
def test_a_three_week_failure_gives_exactly_three_notices_on_postgresql(pg_world):
    check_three_weeks(pg_world)


def check_three_weeks(world):
    run_three_weeks(world)
    found = notices(world.engine)
    assert [(n["kind"], n["effective_on"]) for n in found] == [
        ("opened", date(2026, 11, 6)), ("worsened", date(2026, 11, 13)), ("resolved", date(2026, 12, 3))]
    (episode,) = alert_store.list_episodes(world.engine)
    assert (episode["status"], episode["opened_on"], episode["last_failed_on"], episode["resolved_on"]) == (
        "resolved", date(2026, 11, 6), date(2026, 11, 30), date(2026, 12, 3))
    assert episode["worst_class"] == "Ⅴ" and episode["days_failed"] == 25   # 21 failed days + 11-27…11-30 (month)
    assert set(episode["bases"].split(";")) == {"day", "month"}
    # each notice to each recipient of the section's bureaus, once: Yulin (WeCom, e-mail), Beihai
    # (e-mail, English), Qinzhou (WeCom), the regional department (webhook, e-mail)
    deliveries = alert_store.deliveries(world.engine)
    assert len(deliveries) == 3 * 6 and {d["status"] for d in deliveries} == {"sent"}
    assert len(world.receiver.accepted_on("/wecom")) == 6 and len(world.receiver.accepted_on("/webhook/gx")) == 3
    assert len(world.smtp.messages) == 9
    subjects = sorted(m["Subject"] for _, m in world.smtp.messages)
    assert sum("跨界断面超标开始 横塘 (南流江): Ⅳ / 目标 Ⅲ" in s for s in subjects) == 2
    assert sum("cross-boundary section opened" in s for s in subjects) == 1     # Beihai reads English


def test_rerunning_any_day_notifies_nobody_again(world):
    days = run_three_weeks(world)
    before = (len(notices(world.engine)), len(world.receiver.accepted), len(world.smtp.messages))
    episodes_before = alert_store.list_episodes(world.engine)
    for day in (date(2026, 11, 26), date(2026, 12, 3)):   # the last failed day, the day it resolved
        world.clock.advance(hours=1)
        alerts.run(world.settings, [day], "simulated (test)")
    alerts.run(world.settings, days, "simulated (test)")   # a backfill of them all
    assert (len(notices(world.engine)), len(world.receiver.accepted), len(world.smtp.messages)) == before
    assert alert_store.list_episodes(world.engine) == episodes_before


def test_late_data_opening_earlier_is_silent_but_a_worse_class_is_told_once(world):
    for day in NOVEMBER[:10]:
        night(world, day, {SECTION: "Ⅳ" if day >= date(2026, 11, 6) else "Ⅱ"})
    # a revision of 11-04 (already assessed compliant) shows 劣Ⅴ: the episode began then, and is worse
    write_day(world.engine, date(2026, 11, 4), {SECTION: "劣Ⅴ"})
    world.clock.advance(hours=3)
    alerts.run(world.settings, [date(2026, 11, 4)], "simulated (test)")
    assert [n["kind"] for n in notices(world.engine)] == ["opened", "worsened"]
    (episode,) = alert_store.list_episodes(world.engine)
    assert episode["opened_on"] == date(2026, 11, 4) and episode["worst_class"] == "劣Ⅴ"
    # and a revision back withdraws nothing but the worst class: the episode is still open from 11-06
    write_day(world.engine, date(2026, 11, 4), {SECTION: "Ⅱ"})
    alerts.run(world.settings, [date(2026, 11, 4)], "simulated (test)")
    (episode,) = alert_store.list_episodes(world.engine)
    assert episode["opened_on"] == date(2026, 11, 6) and episode["status"] == "open"
    assert len(notices(world.engine)) == 2


def test_a_failure_that_revised_data_no_longer_show_is_withdrawn_once(world):
    for day in NOVEMBER[:4]:
        night(world, day, {SECTION: "Ⅳ" if day == date(2026, 11, 3) else "Ⅱ"})
    write_day(world.engine, date(2026, 11, 3), {SECTION: "Ⅱ"})
    alerts.run(world.settings, [date(2026, 11, 3)], "simulated (test)")
    alerts.run(world.settings, [date(2026, 11, 3)], "simulated (test)")
    assert [n["kind"] for n in notices(world.engine)] == ["opened", "withdrawn"]
    assert alert_store.list_episodes(world.engine)[0]["status"] == "withdrawn"


def test_a_crash_between_recording_and_sending_loses_nothing_and_duplicates_nothing(world):
    check_crash(world)


@pytest.mark.postgres
def test_a_crash_between_recording_and_sending_loses_nothing_and_duplicates_nothing_on_postgresql(pg_world):
    check_crash(pg_world)


def check_crash(world):
    write_day(world.engine, NOVEMBER[0], {SECTION: "Ⅴ"})
    world.clock.set(night_after(NOVEMBER[0]))
    # the step records the notice and its deliveries, then the process dies before sending
    changes = sections.update_episodes(world.engine, world.routing, [NOVEMBER[0]], "simulated (test)")
    assert changes.notices == 1
    assert {d["status"] for d in alert_store.deliveries(world.engine)} == {"pending"}
    assert world.receiver.requests == 0 and world.smtp.messages == []
    # a sender that dies after claiming one delivery, before the send
    pending = alert_store.due_deliveries(world.engine, world.clock.now(), outbox.CLAIM_LEASE, True)
    assert alert_store.claim_delivery(world.engine, pending[0], world.clock.now())
    # the next run: everything pending goes once; the claimed one waits for its lease
    alerts.run(world.settings, [NOVEMBER[0]], "simulated (test)")
    statuses = {d["delivery_id"]: d["status"] for d in alert_store.deliveries(world.engine)}
    assert statuses[pending[0]["delivery_id"]] == "sending" and list(statuses.values()).count("sent") == 5
    world.clock.advance(minutes=11)
    alerts.deliver(world.settings)
    alerts.deliver(world.settings)
    assert {d["status"] for d in alert_store.deliveries(world.engine)} == {"sent"}
    assert len(world.receiver.accepted) + len(world.smtp.messages) == 6
    ids = [headers["X-Envmon-Delivery"] for _, _, headers in world.receiver.accepted_on("/webhook")]
    assert len(ids) == len(set(ids)) == 1
    assert len({m["Message-ID"] for _, m in world.smtp.messages}) == len(world.smtp.messages) == 3


def test_an_unacknowledged_episode_escalates_to_the_regional_bureau_once(world, monkeypatch):
    routing = routing_file(world.tmp, world.receiver.url, episodes={"escalate_after_hours": 12})
    night(world, NOVEMBER[0], {SECTION: "Ⅳ", "jiuzhou-wenchequiao": "Ⅳ"})
    opened = {n["subject_id"]: n for n in notices(world.engine)}
    alerts.acknowledge(world.engine, opened["jiuzhou-wenchequiao"]["episode_id"], "玉林值班 李明", "已通知陆川县")
    world.clock.advance(hours=11)
    assert sections.escalate_due(world.engine, routing_module.load(routing)) == []
    world.clock.advance(hours=2)
    assert sections.escalate_due(world.engine, routing_module.load(routing)) == [opened[SECTION]["episode_id"]]
    world.clock.advance(hours=30)
    assert sections.escalate_due(world.engine, routing_module.load(routing)) == []
    alerts.deliver(world.settings, routing_module.load(routing))
    escalated = [n for n in notices(world.engine) if n["kind"] == "escalated"]
    assert len(escalated) == 1 and escalated[0]["subject_id"] == SECTION
    recipients = {d["recipient_id"] for d in alert_store.deliveries(world.engine, notice_ids=[escalated[0]["notice_id"]])}
    assert recipients == {"gx-dept/webhook/自治区厅", "gx-dept/email/duty-gx@bureaus.envmon.example"}
    (hook,) = [p for path, p, _ in world.receiver.accepted_on("/webhook/gx") if p["kind"] == "escalated"]
    assert "无人确认" in hook["text"] and hook["facts"]["episode_id"] == opened[SECTION]["episode_id"]


def test_acknowledge_and_resolve_from_the_command_line_keep_an_audit_trail(world, monkeypatch, capsys):
    from pipelines.cli.commands import main

    monkeypatch.setenv("ENVMON_HOME", str(world.settings.home))
    monkeypatch.setenv("ENVMON_ALERT_ROUTING", str(world.routing.source))
    monkeypatch.setenv("ENVMON_SMTP_HOST", world.settings.smtp.host)
    monkeypatch.setenv("ENVMON_SMTP_PORT", str(world.settings.smtp.port))
    night(world, NOVEMBER[0], {SECTION: "Ⅳ"})
    night(world, NOVEMBER[1], {SECTION: "Ⅳ"})
    (episode,) = alert_store.list_episodes(world.engine)
    assert main(["alerts", "ack", str(episode["episode_id"]), "--by", "钦州值班 王芳", "--comment", "已派人采样复核"]) == 0
    assert main(["alerts", "resolve", str(episode["episode_id"]), "--by", "自治区厅 张伟",
                 "--comment", "上游养殖场已整改"]) == 0
    assert main(["alerts", "list", "--all", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["episodes"][0]
    assert listed["status"] == "resolved" and listed["resolved_on"] == "2026-11-02"
    assert listed["acknowledged_by"] == "钦州值班 王芳"
    assert [(a["action"], a["actor"], a["comment"]) for a in listed["actions"]] == [
        ("acknowledge", "钦州值班 王芳", "已派人采样复核"), ("resolve", "自治区厅 张伟", "上游养殖场已整改")]
    resolved = [n for n in notices(world.engine) if n["kind"] == "resolved"]
    assert len(resolved) == 1 and "人工结束" in json.dumps(messages.render(json.loads(resolved[0]["facts"])).text,
                                                          ensure_ascii=False)
    # the section still fails the next day: a new episode, not the resolved one again
    night(world, NOVEMBER[2], {SECTION: "Ⅳ"})
    night(world, NOVEMBER[2])
    assert [e["status"] for e in alert_store.list_episodes(world.engine)] == ["open", "resolved"]
    assert main(["alerts", "ack", "999", "--by", "x"]) == 1
    assert main(["alerts", "retry"]) == 0


def test_acknowledge_needs_a_name(world):
    night(world, NOVEMBER[0], {SECTION: "Ⅳ"})
    (episode,) = alert_store.list_episodes(world.engine)
    with pytest.raises(ValueError):
        alerts.acknowledge(world.engine, episode["episode_id"], "  ", None)


def test_non_urgent_notices_wait_out_quiet_hours(tmp_path, monkeypatch):
    receiver = Receiver()
    secrets_environment(monkeypatch)
    routing = routing_file(tmp_path, receiver.url, recipients=[
        {"bureau": "yulin", "channel": "wecom", "name": "玉林值班群", "url": f"{receiver.url}/wecom/send",
         "key": "env:ENVMON_TEST_WECOM_KEY", "quiet_hours": "22:00-07:30"}])
    settings, engine = settings_for(tmp_path, routing)
    fake = install_clock(monkeypatch, night_after(NOVEMBER[0]))
    try:
        for day, water_class in zip(NOVEMBER[:4], ("Ⅳ", "Ⅱ", "Ⅱ", "Ⅱ")):
            write_day(engine, day, {SECTION: water_class})
            fake.set(night_after(day))   # 02:30: quiet
            alerts.run(settings, [day], "simulated (test)")
        kinds = [p["markdown"]["content"].split("\n")[0] for _, p, _ in receiver.accepted]
        assert len(kinds) == 1 and "开始" in kinds[0]       # opened is urgent: sent at 02:30
        (waiting,) = alert_store.deliveries(engine, ("pending",))
        assert waiting["kind"] == "resolved" and waiting["not_before"] == datetime(2026, 11, 4, 23, 30, tzinfo=timezone.utc)
        fake.set(datetime(2026, 11, 5, 7, 45, tzinfo=routing_module.BUREAU_TZ))
        alerts.deliver(settings)
        assert len(receiver.accepted) == 2 and "结束" in receiver.accepted[1][1]["markdown"]["content"]
    finally:
        receiver.stop()


# --- channels --------------------------------------------------------------------------------

def test_every_channel_checks_out_at_the_receiver(world):
    night(world, NOVEMBER[0], {SECTION: "Ⅳ", "jiuzhou-wenchequiao": "Ⅳ", "beilun-dongxing": "Ⅳ"})
    assert world.receiver.rejected == []
    wecom = world.receiver.accepted_on("/wecom")[0][1]["markdown"]["content"]
    assert wecom.startswith("### 跨界断面超标开始") and "**超标指标:**" in wecom
    dingtalk = world.receiver.accepted_on("/dingtalk")[0][1]
    assert dingtalk["markdown"]["title"].startswith("跨界断面超标开始") and dingtalk["at"]["isAtAll"] is False
    hook = world.receiver.accepted_on("/webhook/gx")[0][1]
    assert hook["event"] == "envmon.alert" and hook["kind"] == "opened" and hook["facts"]["target_class"] == "Ⅲ"
    # 北仑河 is a national boundary: Fangchenggang's DingTalk group and the regional department
    fcg = [p for path, p, _ in world.receiver.accepted_on("/dingtalk/fcg")]
    assert len(fcg) == 1 and "东兴" in fcg[0]["markdown"]["text"]
    html = next(m for _, m in world.smtp.messages).get_body(("html",)).get_content()
    assert "<li>" in html and "超目标" in html


def test_a_long_message_is_cut_at_an_item_within_the_platform_limit():
    items = [{"parameter": "nh3n", "value": 2.0 + i / 100, "class": "劣Ⅴ", "multiple_vs_target": 1.0 + i,
              "multiple_vs_class_iii": 1.0 + i, "basis": "day", "day": f"2026-11-{i % 28 + 1:02d}"} for i in range(80)]
    facts = {"category": "section", "kind": "opened", "section_id": SECTION, "episode_id": 7, "opened_on": "2026-11-01",
             "last_failed_on": "2026-11-28", "resolved_on": None, "worst_class": "劣Ⅴ", "target_class": "Ⅲ",
             "days_failed": 28, "items": items, "bases": ["day"], "day": "2026-11-01", "data_label": "test",
             "resolve_after": 3, "escalate_after_hours": 24.0}
    message = messages.render(facts)
    content = channels.fit(message.markdown_lines, channels.WECOM_MAX_BYTES)
    assert len(content.encode()) <= 4096 and len(message.text.encode()) > 4096
    kept = [line for line in content.splitlines() if line.startswith("- 氨氮")]
    assert 0 < len(kept) < 80 and f"- …其余 {80 - len(kept)} 项" in content
    assert content.splitlines()[-1].startswith("envmon 自动发送")   # the footer survives the cut


def test_failures_are_retried_with_backoff_then_marked_failed_with_the_reason(tmp_path, monkeypatch):
    receiver = Receiver(fail_rate=1.0)
    secrets_environment(monkeypatch)
    routing = routing_file(tmp_path, receiver.url, delivery={"max_attempts": 3, "backoff_minutes": 10}, recipients=[
        {"bureau": "yulin", "channel": "webhook", "name": "hook", "url": f"{receiver.url}/webhook/y",
         "secret": "env:ENVMON_TEST_WEBHOOK_SECRET"}])
    settings, engine = settings_for(tmp_path, routing)
    fake = install_clock(monkeypatch, night_after(NOVEMBER[0]))
    try:
        write_day(engine, NOVEMBER[0], {SECTION: "Ⅳ"})
        alerts.run(settings, [NOVEMBER[0]], "simulated (test)")
        (delivery,) = alert_store.deliveries(engine)
        assert delivery["status"] == "pending" and delivery["attempts"] == 1
        assert delivery["not_before"] == fake.now() + timedelta(minutes=10)
        alerts.deliver(settings)           # not yet due: nothing tried
        assert alert_store.deliveries(engine)[0]["attempts"] == 1
        fake.advance(minutes=10)
        alerts.deliver(settings)
        (delivery,) = alert_store.deliveries(engine)
        assert delivery["attempts"] == 2 and delivery["not_before"] == fake.now() + timedelta(minutes=20)
        fake.advance(minutes=20)
        alerts.deliver(settings)
        (delivery,) = alert_store.deliveries(engine)
        assert delivery["status"] == "failed" and delivery["last_error"].startswith("after 3 attempts: ")
        assert receiver.requests == 3 * 2          # two quick tries in each of three runs
        assert no_secret_in(delivery["last_error"])
        # envmon alerts retry --failed queues it again; the receiver is back
        receiver.fail_rate = 0.0
        assert alert_store.requeue_failed(engine) == 1
        alerts.deliver(settings)
        assert alert_store.deliveries(engine)[0]["status"] == "sent" and len(receiver.accepted) == 1
    finally:
        receiver.stop()


def no_secret_in(text: str) -> bool:
    from tests.alert_helpers import DINGTALK_SECRET, DINGTALK_TOKEN, WEBHOOK_SECRET, WECOM_KEY

    return not any(secret in (text or "") for secret in (WEBHOOK_SECRET, WECOM_KEY, DINGTALK_TOKEN, DINGTALK_SECRET))


def test_a_rejected_signature_fails_at_once_without_revealing_the_secret(tmp_path, monkeypatch):
    receiver = Receiver()
    secrets_environment(monkeypatch)
    monkeypatch.setenv("ENVMON_TEST_DINGTALK_SECRET", "SECnot-the-one-the-robot-has")
    routing = routing_file(tmp_path, receiver.url, recipients=[
        {"bureau": "yulin", "channel": "dingtalk", "name": "群", "url": f"{receiver.url}/dingtalk/robot/send",
         "access_token": "env:ENVMON_TEST_DINGTALK_TOKEN", "secret": "env:ENVMON_TEST_DINGTALK_SECRET"}])
    settings, engine = settings_for(tmp_path, routing)
    install_clock(monkeypatch, night_after(NOVEMBER[0]))
    try:
        write_day(engine, NOVEMBER[0], {SECTION: "Ⅳ"})
        alerts.run(settings, [NOVEMBER[0]], "simulated (test)")
        (delivery,) = alert_store.deliveries(engine)
        assert delivery["status"] == "failed" and "sign not match" in delivery["last_error"]
        assert "SECnot" not in delivery["last_error"] and "token-for-tests" not in delivery["last_error"]
        assert receiver.requests == 1        # a refusal is not retried
    finally:
        receiver.stop()


def test_a_robot_without_its_secret_is_held_until_it_is_set(tmp_path, monkeypatch):
    receiver = Receiver()
    routing = routing_file(tmp_path, receiver.url, recipients=[
        {"bureau": "yulin", "channel": "wecom", "name": "群", "url": f"{receiver.url}/wecom/send",
         "key": "env:ENVMON_TEST_WECOM_KEY"}])
    monkeypatch.delenv("ENVMON_TEST_WECOM_KEY", raising=False)
    settings, engine = settings_for(tmp_path, routing)
    install_clock(monkeypatch, night_after(NOVEMBER[0]))
    try:
        write_day(engine, NOVEMBER[0], {SECTION: "Ⅳ"})
        alerts.run(settings, [NOVEMBER[0]], "simulated (test)")
        (delivery,) = alert_store.deliveries(engine)
        assert delivery["status"] == "held" and "ENVMON_TEST_WECOM_KEY is not set" in delivery["last_error"]
        secrets_environment(monkeypatch)
        alerts.deliver(settings)
        assert alert_store.deliveries(engine)[0]["status"] == "sent" and len(receiver.accepted) == 1
    finally:
        receiver.stop()


def test_without_smtp_the_mail_waits_in_the_outbox_and_is_sent_later(tmp_path, monkeypatch, smtp_server):
    routing = routing_file(tmp_path, None, recipients=[{"bureau": "yulin", "channel": "email"}], operators=[])
    settings, engine = settings_for(tmp_path, routing)
    install_clock(monkeypatch, night_after(NOVEMBER[0]))
    write_day(engine, NOVEMBER[0], {SECTION: "Ⅳ"})
    alerts.run(settings, [NOVEMBER[0]], "simulated (test)")
    assert alert_store.deliveries(engine)[0]["status"] == "held"
    assert len(list((settings.home / "outbox").glob("*.eml"))) == 1
    controller, handler = smtp_server
    configured, _ = settings_for(tmp_path, routing, smtp=controller)
    alerts.deliver(configured)
    alerts.deliver(configured)
    assert alert_store.deliveries(engine)[0]["status"] == "sent" and len(handler.messages) == 1
    recipients, message = handler.messages[0]
    assert recipients == ["duty-yulin@bureaus.envmon.example"] and "横塘" in message["Subject"]
    body = message.get_body(("plain",)).get_content()
    assert "氨氮" in body and "超目标 0.30 倍" in body and "simulated (test)" in body


# --- routing ---------------------------------------------------------------------------------

def test_routing_names_upstream_downstream_and_regional_bureaus():
    rules = routing_module.load().rules
    assert routing_module.section_bureaus("jiuzhou-wenchequiao", rules["section"], rules["national_boundary"]) == [
        "yulin", "zhanjiang", "gd-dept", "gx-dept"]
    assert routing_module.section_bureaus("nanliu-hengtang", rules["section"], rules["national_boundary"]) == [
        "yulin", "beihai", "qinzhou", "gx-dept"]
    # 北仑河: China upstream, Viet Nam downstream (no bureau of ours), plus whom the registry names
    assert routing_module.section_bureaus("beilun-dongxing", rules["section"], rules["national_boundary"]) == [
        "fangchenggang", "gx-dept"]
    assert routing_module.section_bureaus("jiuzhou-wenchequiao", rules["escalation"]) == ["gd-dept", "gx-dept"]


def test_the_shipped_routing_reaches_every_bureau_of_every_cross_boundary_section():
    routing = routing_module.load()
    for section_id in sections.cross_boundary_sections():
        for bureau in routing_module.section_bureaus(section_id, routing.rules["section"], routing.rules["national_boundary"]):
            assert routing.of_bureau(bureau), (section_id, bureau)
    assert routing.operators and routing.resolve_after_compliant_days >= 1


def test_a_secret_written_into_the_routing_file_is_refused(tmp_path):
    path = routing_file(tmp_path, "http://127.0.0.1:9", recipients=[
        {"bureau": "yulin", "channel": "wecom", "url": "http://127.0.0.1:9/w", "key": "a-real-key"}])
    with pytest.raises(routing_module.RoutingError, match="must name where the secret is"):
        routing_module.load(path)


def test_a_dingtalk_signature_is_the_documented_one():
    # HMAC-SHA256(key=secret, "{ms}\n{secret}"), base64, url-encoded (stack-notes, "Alert channels")
    import base64
    import hashlib
    import hmac
    import urllib.parse

    expected = urllib.parse.quote_plus(base64.b64encode(
        hmac.new(b"SEC000", b"1700000000000\nSEC000", hashlib.sha256).digest()))
    assert channels.dingtalk_sign("SEC000", 1700000000000) == expected


def test_no_secret_reaches_a_log_or_the_outbox(world, caplog, monkeypatch):
    import logging

    from tests.alert_helpers import DINGTALK_SECRET, DINGTALK_TOKEN, WEBHOOK_SECRET, WECOM_KEY

    caplog.set_level(logging.DEBUG)
    # httpx must log its requests for this test to mean anything: an Airflow run earlier in the same
    # session (dag.test configures logging) can leave the httpx logger at WARNING or disabled
    caplog.set_level(logging.DEBUG, logger="httpx")
    monkeypatch.setattr(logging.getLogger("httpx"), "disabled", False)
    night(world, NOVEMBER[0], {SECTION: "Ⅳ", "jiuzhou-wenchequiao": "Ⅳ"})
    assert world.receiver.accepted_on("/wecom") and world.receiver.accepted_on("/dingtalk")
    assert "HTTP Request: POST" in caplog.text            # httpx did log the requests ...
    stored = json.dumps([alert_store.deliveries(world.engine), notices(world.engine)], default=str)
    for secret in (WECOM_KEY, DINGTALK_TOKEN, DINGTALK_SECRET, WEBHOOK_SECRET):
        assert secret not in caplog.text and secret not in stored   # ... without their query


def test_a_robot_keeps_to_its_rate_per_minute(tmp_path, monkeypatch):
    receiver = Receiver()
    secrets_environment(monkeypatch)
    routing = routing_file(tmp_path, receiver.url, recipients=[
        {"bureau": "gx-dept", "channel": "wecom", "name": "自治区厅值班群", "url": f"{receiver.url}/wecom/send",
         "key": "env:ENVMON_TEST_WECOM_KEY", "rate_per_minute": 2}])
    settings, engine = settings_for(tmp_path, routing)
    fake = install_clock(monkeypatch, night_after(NOVEMBER[0]))
    try:
        # five of the region's cross-boundary sections fail the same day: five notices for one robot.
        # Sections with a target: a section whose target is unset (Yulin's two boundary sections
        # "(名称待定)") is classed but judged against nothing, so it opens no episode (issue 23)
        region = ["jiuzhou-wenchequiao", "jiuzhou-shijiao", "hedi-reservoir", "beilun-dongxing", "pingerhe-pingerguan"]
        write_day(engine, NOVEMBER[0], {section: "Ⅴ" for section in region})
        alerts.run(settings, [NOVEMBER[0]], "simulated (test)")
        sent = sorted(d["sent_at"] for d in alert_store.deliveries(engine))
        assert len(sent) == len(receiver.accepted) == 5
        assert all(later - earlier >= timedelta(minutes=1) for earlier, later in zip(sent, sent[2:]))
        assert fake.now() - night_after(NOVEMBER[0]) >= timedelta(minutes=2)   # it waited, it did not drop
    finally:
        receiver.stop()


def test_every_envmon_task_reports_its_failure_and_live_mode_sends_between_nights(monkeypatch, tmp_path):
    from tests.test_dag import LIVE, _dagbag

    bag = _dagbag(monkeypatch, tmp_path, **LIVE, ENVMON_INBOX=str(tmp_path / "inbox"),
                  ENVMON_BACKUP_DIR=str(tmp_path / "backups"))
    assert bag.import_errors == {}
    wired = [d for d in bag.dags.values() if d.dag_id.startswith("envmon_")]
    # every DAG of live mode with a backup folder (envmon_collect_partner_edr exists only where a
    # partners file is set: tests/test_partner_edr.py)
    assert {d.dag_id for d in wired} == {
        "envmon_nightly", "envmon_alerts", "envmon_monthly", "envmon_maintenance", "envmon_backup",
        "envmon_collect_cnemc_water", "envmon_collect_cnemc_air", "envmon_collect_lab", "envmon_collect_coastal"}
    for dag in wired:
        for task in dag.tasks:
            assert task.on_failure_callback, (dag.dag_id, task.task_id)
    hourly = bag.dags["envmon_alerts"]
    assert hourly.timetable.expression == "40 * * * *" and hourly.max_active_runs == 1
