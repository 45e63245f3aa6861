"""Alerts for failed cross-boundary assessments: one per section and period, however often the
period is re-run, stored in the warehouse and e-mailed over SMTP to the bureaus responsible."""
from __future__ import annotations

import json
import smtplib
from dataclasses import dataclass
from datetime import date
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from pathlib import Path

from sqlalchemy import Engine

from pipelines.reference import registry, standards
from pipelines.config import Settings, SmtpSettings
from warehouse import db
from warehouse.schema import utc_now

UNSENT_STATUSES = ("pending", "outbox", "failed")


@dataclass
class AlertSummary:
    raised: int = 0
    sent: int = 0
    written_to_outbox: int = 0
    failed: int = 0


def alert_key(station_id: str, period: str, period_start: date) -> str:
    return f"cross-boundary/{station_id}/{period}/{period_start.isoformat()}"


def _failing_text(failing_json: str) -> list[str]:
    lines = []
    for item in json.loads(failing_json):
        name = standards.parameters().loc[item["parameter"], "name_zh"]
        unit = standards.unit_of(item["parameter"])
        multiples = []
        if item["multiple_vs_target"] is not None:
            multiples.append(f"超目标 {item['multiple_vs_target']:.2f} 倍")
        if item["multiple_vs_class_iii"] is not None:
            multiples.append(f"超Ⅲ类 {item['multiple_vs_class_iii']:.2f} 倍")
        detail = "，".join(multiples) or "超标倍数不适用 (pH/溶解氧)"
        lines.append(f"  - {name} ({item['parameter']}): {item['value']:.4g} {unit}, {item['class']}类; {detail}")
    return lines


def compose(assessment: dict, data_label: str) -> tuple[str, str, list[registry.Recipient]]:
    section = registry.sections().loc[assessment["station_id"]]
    recipients = registry.responsible_bureaus(assessment["station_id"])
    day = assessment["period_start"].isoformat()
    subject = (f"[envmon] 跨界断面未达标 {section['name_zh']} ({section['water_body']}) {day}: "
               f"{assessment['water_class']} / 目标 {assessment['target_class']}")
    body = "\n".join([
        f"跨界断面 {section['name_zh']} ({section['section_id']}) 在 {day} (北京时间) 的日评价未达到水质目标。",
        "",
        f"水体: {section['water_body']}    地市: {section['city']} {section['county']}",
        f"交界类型: {section['boundary_kind']}    上游: {section['upstream_jurisdiction']}    "
        f"下游: {section['downstream_jurisdiction']}",
        f"水质类别: {assessment['water_class']} ({assessment['grade']})    水质目标: {assessment['target_class']}",
        f"评价依据: {assessment['standard']}; 单因子评价, 日均值, 有效数据 {assessment['values_used']} 个",
        "超标指标:",
        *_failing_text(assessment["failing_parameters"]),
        "",
        f"数据来源: {data_label}",
        f"注: 断面登记信息中的假定 (须核实): {section['assumptions'] or '无'}",
        "",
        "envmon nightly run. Reply to the duty officer of the bureau that operates envmon.",
    ])
    return subject, body, recipients


def _message(subject: str, body: str, recipients_json: str, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(formataddr((r["name_zh"], r["email"])) for r in json.loads(recipients_json))
    message["Message-ID"] = make_msgid(domain="envmon")
    message.set_content(body)
    return message


def send_email(smtp: SmtpSettings, message: EmailMessage) -> None:
    with smtplib.SMTP(smtp.host, smtp.port, timeout=30) as client:
        if smtp.starttls:
            client.starttls()
        if smtp.user:
            client.login(smtp.user, smtp.password or "")
        client.send_message(message)


def raise_alerts(engine: Engine, assessments: list[dict], settings: Settings, data_label: str) -> AlertSummary:
    """Store one alert per failed cross-boundary assessment (new ones only) and deliver every
    alert of these assessments that has not been delivered yet."""
    summary = AlertSummary()
    failed = [a for a in assessments if a["is_cross_boundary"] and a["is_compliant"] is False]
    keys = {alert_key(a["station_id"], a["period"], a["period_start"]): a for a in failed}
    with engine.begin() as connection:
        existing = db.existing_alert_keys(connection, keys)
        for key, assessment in keys.items():
            if key in existing:
                continue
            subject, body, recipients = compose(assessment, data_label)
            db.insert_alert(connection, {
                "alert_key": key, "station_id": assessment["station_id"], "period": assessment["period"],
                "period_start": assessment["period_start"], "raised_at": utc_now(),
                "recipients": json.dumps([r.__dict__ for r in recipients], ensure_ascii=False),
                "subject": subject, "body": body, "delivery_status": "pending", "attempts": 0,
            })
            summary.raised += 1
        pending = [row for row in db.existing_alert_keys(connection, keys).values()
                   if row["delivery_status"] in UNSENT_STATUSES]
    for row in pending:
        _deliver(engine, row, settings, summary)
    return summary


def _deliver(engine: Engine, row: dict, settings: Settings, summary: AlertSummary) -> None:
    sender = settings.smtp.sender if settings.smtp else "envmon@localhost"
    message = _message(row["subject"], row["body"], row["recipients"], sender)
    if settings.smtp is None:
        if row["delivery_status"] == "outbox":
            return  # already written; it goes out once an SMTP server is configured
        path = _write_outbox(settings.outbox_dir, row["alert_key"], message)
        status = {"delivery_status": "outbox", "delivery_detail": f"no SMTP server configured; written to {path}"}
        summary.written_to_outbox += 1
    else:
        try:
            send_email(settings.smtp, message)
            status = {"delivery_status": "sent", "delivery_detail": f"SMTP {settings.smtp.host}:{settings.smtp.port}",
                      "sent_at": utc_now()}
            summary.sent += 1
        except (OSError, smtplib.SMTPException) as error:
            status = {"delivery_status": "failed", "delivery_detail": f"{type(error).__name__}: {error}"}
            summary.failed += 1
    with engine.begin() as connection:
        db.update_alert_delivery(connection, row["alert_key"], attempts=row["attempts"] + 1, **status)


def _write_outbox(outbox: Path, key: str, message: EmailMessage) -> Path:
    outbox.mkdir(parents=True, exist_ok=True)
    path = outbox / (key.replace("/", "_") + ".eml")
    path.write_bytes(bytes(message))
    return path
