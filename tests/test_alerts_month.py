"""Issue 13's "done when": a simulated month with failing sections, a silent source, and receivers
(the HTTP robots and webhooks, and the SMTP server) that fail half the time, ends with every
notice delivered to every recipient exactly once."""
from collections import Counter
from datetime import date, datetime, timedelta, timezone

from pipelines import alerts
from pipelines.sources.simulator import in_episode
from tests.alert_helpers import (
    FlakySmtpHandler, Receiver, install_clock, night_after, routing_file, secrets_environment, settings_for,
    smtp_controller, write_day,
)
from warehouse import alert_store, db

MONTH = [date(2026, 11, 1) + timedelta(days=i) for i in range(30)]


def classes_on(day: date) -> dict[str, str]:
    """The 九洲江 section fails two days a week (the simulator's episodes: Ⅴ, then 劣Ⅴ); 横塘 for three
    days; 东兴 (北仑河) for three days, worse first; all else complies."""
    return {
        "jiuzhou-wenchequiao": ("劣Ⅴ" if in_episode(day - timedelta(days=1)) else "Ⅴ") if in_episode(day) else "Ⅲ",
        "nanliu-hengtang": "Ⅳ" if date(2026, 11, 8) <= day <= date(2026, 11, 10) else "Ⅱ",
        "beilun-dongxing": {date(2026, 11, 20): "Ⅴ", date(2026, 11, 21): "Ⅳ", date(2026, 11, 22): "Ⅳ"}.get(day, "Ⅱ"),
    }


def test_a_month_with_failures_a_silent_source_and_flaky_receivers_delivers_every_notice_once(tmp_path, monkeypatch):
    receiver = Receiver(fail_rate=0.5, hang_seconds=0.6)
    smtp = FlakySmtpHandler(fail_rate=0.5)
    controller = smtp_controller(smtp)
    secrets_environment(monkeypatch)
    routing = routing_file(tmp_path, receiver.url, episodes={"escalate_after_hours": 36},
                           delivery={"max_attempts": 12, "backoff_minutes": 5, "tries_per_attempt": 2})
    settings, engine = settings_for(tmp_path, routing, smtp=controller)
    fake = install_clock(monkeypatch, night_after(MONTH[0]))
    try:
        db.advance_watermark(engine, "cnemc-air", datetime(2026, 11, 12, 0, 0, tzinfo=timezone.utc))
        for day in MONTH:
            write_day(engine, day, classes_on(day))
            fake.set(night_after(day))
            if day >= date(2026, 11, 20):   # the air feed, silent since 11-12, delivers again
                db.advance_watermark(engine, "cnemc-air", fake.now() - timedelta(hours=1))
            alerts.run(settings, [day], "simulated (test)")
            if day == MONTH[-1]:
                alerts.run(settings, MONTH, "simulated (test)")   # the whole month again: nothing new
            if day == date(2026, 11, 9):   # 横塘's duty officer answers; the others never do
                episode = next(e for e in alert_store.list_episodes(engine, ("open",))
                               if e["section_id"] == "nanliu-hengtang")
                alerts.acknowledge(engine, episode["episode_id"], "玉林值班 李明", "已通知上游")
            for _ in range(6):              # the outbox between nights (envmon alerts retry, hourly)
                fake.advance(hours=1)
                alerts.deliver(settings)
        for _ in range(40):                  # drain what is still backing off
            if not alert_store.deliveries(engine, ("pending", "sending", "held")):
                break
            fake.advance(hours=2)
            alerts.deliver(settings)

        notices = alert_store.notices_since(engine, datetime(2000, 1, 1, tzinfo=timezone.utc))
        by_subject = Counter((n["subject_id"], n["kind"]) for n in notices)
        assert by_subject[("nanliu-hengtang", "opened")] == 1 and by_subject[("nanliu-hengtang", "resolved")] == 1
        assert by_subject[("nanliu-hengtang", "escalated")] == 0              # acknowledged in time
        assert by_subject[("beilun-dongxing", "opened")] == 1 and by_subject[("beilun-dongxing", "resolved")] == 1
        assert by_subject[("beilun-dongxing", "escalated")] == 1
        # 九洲江: its month mean fails from the first episode on, so one episode, worse on its second day
        assert by_subject[("jiuzhou-wenchequiao", "opened")] == 1 and by_subject[("jiuzhou-wenchequiao", "worsened")] == 1
        assert by_subject[("jiuzhou-wenchequiao", "escalated")] == 1
        assert by_subject[("cnemc-air", "source_silent")] == 1 and by_subject[("cnemc-air", "source_back")] == 1
        assert len(notices) == len({n["notice_key"] for n in notices})

        deliveries = alert_store.deliveries(engine)
        assert deliveries and {d["status"] for d in deliveries} == {"sent"}
        # the receivers did fail, in every way, about half the time
        assert set(receiver.failures) == {"http500", "timeout", "rate_limited"} and smtp.refused > 10
        assert receiver.rejected == []
        # every webhook delivery arrived once (the receiver keys them by X-Envmon-Delivery)
        hooks = Counter(headers["X-Envmon-Delivery"] for _, _, headers in receiver.accepted_on("/webhook"))
        expected_hooks = {str(d["delivery_id"]) for d in deliveries if d["channel"] == "webhook"}
        assert set(hooks) == expected_hooks and set(hooks.values()) == {1}
        # every robot message once: as many accepted as deliveries, no message twice to one robot
        for channel, prefix in (("wecom", "/wecom"), ("dingtalk", "/dingtalk")):
            texts = Counter((path, p["markdown"].get("content") or p["markdown"]["text"])
                            for path, p, _ in receiver.accepted_on(prefix))
            assert sum(texts.values()) == sum(d["channel"] == channel for d in deliveries) and set(texts.values()) == {1}
        # every e-mail once: its Message-ID is the delivery's
        mail_ids = Counter(m["Message-ID"] for _, m in smtp.messages)
        expected_mails = {f"<envmon.delivery.{d['delivery_id']}@envmon>" for d in deliveries if d["channel"] == "email"}
        assert set(mail_ids) == expected_mails and set(mail_ids.values()) == {1}
    finally:
        controller.stop()
        receiver.stop()
