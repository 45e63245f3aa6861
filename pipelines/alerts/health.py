"""Whether alerts reach a person: the outbox's backlog by channel and age, the alert DAG's check that
fails when it is too old, and the channels' check at deployment start.

- backlog(): the deliveries not sent (pending, held, failed) by channel and recipient, with the
  age of the oldest; `overdue` counts those waiting longer than `backlog_alert_minutes` (the
  routing file's [delivery] table). `envmon alerts health [--json]` prints it and exits 1 when
  anything is overdue, for monitoring.
- check_backlog(): the envmon_alerts DAG's task after its housekeeping: raises DeliveryBacklog when
  something is overdue, so that Airflow's failure callback (pipelines.alerts.on_failure) tells the
  operators through the second path (fallback.py), which does not go through the outbox whose
  channels are what is stuck.
- check_channels(): `envmon alerts check-channels`, run by the deployment's init job
  (deploy/airflow-init.sh): in live mode it fails, naming what is missing, unless the operators
  and every bureau each have a channel that took a test message, and the operators' second path
  took one too.
"""
from __future__ import annotations

import html
from datetime import datetime, timedelta

from pipelines import clock

BACKLOG_STATUSES = ("pending", "sending", "held", "failed")
# RFC 2606 and RFC 6761 names, which never deliver: an address there is a placeholder
RESERVED_DOMAINS = ("example", "example.com", "example.net", "example.org", "invalid", "test", "localhost")


class DeliveryBacklog(RuntimeError):
    """Deliveries have waited longer than the routing's backlog_alert_minutes; the message says
    which channels, how many and how old, and why (their last errors)."""


def _waiting_since(delivery: dict) -> datetime:
    """When a delivery became due: a first try held back (quiet hours, a robot's rate) is due from
    its not_before; anything tried, held or failed has waited since it was recorded."""
    if delivery["status"] == "pending" and not delivery["attempts"] and delivery["not_before"]:
        return max(delivery["created_at"], delivery["not_before"])
    return delivery["created_at"]


def backlog(engine, older_than_minutes: float, now: datetime | None = None) -> dict:
    from warehouse import alert_store

    now = now or clock.now()
    limit = timedelta(minutes=older_than_minutes)
    channels: dict[str, dict] = {}
    recipients: dict[str, dict] = {}
    oldest = None
    rows = alert_store.deliveries(engine, BACKLOG_STATUSES)
    for d in rows:
        status = "pending" if d["status"] == "sending" else d["status"]
        deferred = status == "pending" and not d["attempts"] and d["not_before"] is not None and d["not_before"] > now
        age = max((now - _waiting_since(d)).total_seconds() / 60, 0.0)
        overdue = not deferred and age > limit.total_seconds() / 60
        for table, key, base in ((channels, d["channel"], {}),
                                 (recipients, d["recipient_id"], {"recipient_id": d["recipient_id"],
                                                                  "channel": d["channel"], "target": d["target"]})):
            entry = table.setdefault(key, {**base, "pending": 0, "held": 0, "failed": 0, "deferred": 0,
                                           "overdue": 0, "oldest_minutes": None, "last_error": None})
            entry[status] += 1
            entry["deferred"] += deferred
            entry["overdue"] += overdue
            if not deferred and (entry["oldest_minutes"] is None or age > entry["oldest_minutes"]):
                entry["oldest_minutes"] = round(age, 1)
                entry["last_error"] = d["last_error"]
        if not deferred and (oldest is None or age > oldest["minutes"]):
            oldest = {"delivery_id": d["delivery_id"], "recipient_id": d["recipient_id"], "channel": d["channel"],
                      "status": status, "notice": d["notice_key"], "minutes": round(age, 1),
                      "last_error": d["last_error"]}
    return {"now": now.isoformat(), "older_than_minutes": older_than_minutes, "total": len(rows),
            "overdue": sum(c["overdue"] for c in channels.values()), "channels": dict(sorted(channels.items())),
            "recipients": sorted(recipients.values(), key=lambda r: r["recipient_id"]), "oldest": oldest}


def describe(report: dict) -> list[str]:
    """The backlog as text, one channel and one recipient a line."""
    out = [f"deliveries not sent: {report['total']}; waiting longer than {report['older_than_minutes']:g} min: "
           f"{report['overdue']}"]
    for channel, c in report["channels"].items():
        out.append(f"  {channel:8} pending {c['pending']} (deferred {c['deferred']}), held {c['held']}, "
                   f"failed {c['failed']}; oldest {_minutes(c['oldest_minutes'])}; overdue {c['overdue']}")
    for r in report["recipients"]:
        out.append(f"    {r['recipient_id']}: pending {r['pending']}, held {r['held']}, failed {r['failed']}; oldest "
                   f"{_minutes(r['oldest_minutes'])}" + (f"; last error: {r['last_error']}" if r["last_error"] else ""))
    return out


def _minutes(value) -> str:
    return "-" if value is None else f"{value:g} min"


def check_backlog(settings=None, now: datetime | None = None) -> dict:
    """The alert DAG's backlog check: the backlog's summary, or DeliveryBacklog when deliveries have
    waited longer than the routing's backlog_alert_minutes."""
    from pipelines.alerts import load_routing
    from pipelines.config import load_settings
    from warehouse import db

    settings = settings or load_settings()
    routing = load_routing(settings)
    report = backlog(db.engine_for(settings.warehouse_url), routing.backlog_alert_minutes, now)
    if report["overdue"]:
        stuck = [f"{channel} {c['overdue']} (held {c['held']}, failed {c['failed']}, pending {c['pending']}; "
                 f"oldest {_minutes(c['oldest_minutes'])}" + (f"; {c['last_error']}" if c["last_error"] else "") + ")"
                 for channel, c in report["channels"].items() if c["overdue"]]
        raise DeliveryBacklog(f"{report['overdue']} alert deliveries waiting longer than "
                              f"{report['older_than_minutes']:g} min: " + "; ".join(stuck)
                              + ". See envmon alerts health.")
    return {"overdue": 0, "total": report["total"]}


# --- the channels' check at deployment start -------------------------------------------------

def placeholder_address(address: str) -> bool:
    domain = address.rpartition("@")[2].strip().lower().rstrip(".")
    return any(domain == name or domain.endswith("." + name) for name in RESERVED_DOMAINS)


def _test_message(recipient, now: datetime):
    from pipelines.alerts.messages import Message

    who = recipient.bureau or "operators"
    subject = "[envmon] 通道测试 / channel test"
    lines = [f"envmon 部署启动时的测试消息 ({who}, {recipient.channel}): 本通道可以收到告警。",
             f"A test at deployment start ({who}, {recipient.channel}): alerts reach this channel.",
             f"{now.astimezone(clock.BUREAU_TZ):%Y-%m-%d %H:%M} (UTC+8)"]
    return Message(subject, "\n".join(lines), subject, [f"### {subject}", *lines],
                   "<p>" + "<br>".join(html.escape(line) for line in lines) + "</p>")


def _problem(settings, recipient) -> str | None:
    """What keeps a recipient's channel from sending, found without sending anything."""
    from pipelines.alerts.routing import SECRET_FIELDS, SecretMissing

    if recipient.channel == "email":
        if placeholder_address(recipient.target):
            return (f"{recipient.target} is a placeholder address (a reserved domain): write the real one in the "
                    "routing file (address) or bureaus.csv")
        if settings.smtp is None:
            return "no SMTP server configured (ENVMON_SMTP_HOST)"
        return None
    try:
        for name in SECRET_FIELDS.get(recipient.channel, ()):
            recipient.secret(name)
        recipient.setting("url")   # the webhook's URL may itself be a reference (env:NAME)
    except SecretMissing as error:
        return str(error)
    return None


def _send_test(settings, routing, recipient, now: datetime) -> str:
    from pipelines.alerts import channels

    message = _test_message(recipient, now)
    delivery = {"delivery_id": f"channel-test-{int(now.timestamp())}"}
    if recipient.channel == "email":
        email = channels.email_message(recipient, message, delivery, settings.smtp.sender, None)
        return channels.send_email(settings.smtp, email, routing.timeout_seconds)
    if recipient.channel == "wecom":
        return channels.send_wecom(recipient, message, routing.timeout_seconds)
    if recipient.channel == "dingtalk":
        return channels.send_dingtalk(recipient, message, routing.timeout_seconds, now)
    notice = {"notice_id": 0, "notice_key": "channel-test", "category": "check", "kind": "channel_test",
              "is_urgent": False}
    return channels.send_webhook(recipient, message, {"kind": "channel_test"}, delivery, notice,
                                 routing.timeout_seconds, now)


def check_recipient(settings, routing, recipient, send: bool, now: datetime) -> dict:
    result = {"recipient_id": recipient.recipient_id, "bureau": recipient.bureau, "channel": recipient.channel,
              "target": recipient.target, "receives": recipient.receives, "ok": False, "tested": False,
              "reason": _problem(settings, recipient)}
    if result["reason"] is None:
        result["ok"] = True
        if send:
            try:
                _send_test(settings, routing, recipient, now)
                result["tested"] = True
            except Exception as error:  # noqa: BLE001 - the channel's own answer is the finding
                result.update(ok=False, reason=f"test message not accepted: {error}")
    return result


def check_channels(settings, routing, send: bool = True, now: datetime | None = None) -> dict:
    """Each recipient's channel (configured; with `send`, a test message accepted), and the
    problems that keep alerts from a person: the operators or a bureau of bureaus.csv without a
    working channel that receives every notice, or no operators' second path."""
    from pipelines.alerts import fallback
    from pipelines.reference import registry

    now = now or clock.now()
    results = [check_recipient(settings, routing, r, send, now) for r in (*routing.operators, *routing.recipients)]
    second = fallback.check(send, now)
    problems = []

    def _why(rows) -> str:
        return "; ".join(f"{r['recipient_id']}: {r['reason']}" for r in rows) or "none in the routing file"

    operators = [r for r in results if r["bureau"] is None]
    if not any(r["ok"] for r in operators):
        problems.append(f"the operators have no working channel ({_why(operators)})")
    for bureau in registry.bureaus().index:
        rows = [r for r in results if r["bureau"] == bureau and r["receives"] == "all"]
        if not any(r["ok"] for r in rows):
            problems.append(f"bureau {bureau} has no working channel ({_why(rows)})")
    if not second["ok"]:
        problems.append(f"the operators' second path does not work ({second['reason']})")
    return {"mode": settings.source_mode, "sent_tests": send, "recipients": results, "second_path": second,
            "problems": problems, "ok": not problems}
