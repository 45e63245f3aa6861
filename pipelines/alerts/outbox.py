"""The outbox: every (notice, recipient) is a row before anything is sent, and leaves it once.

- record(): a notice and one delivery per recipient, in the caller's transaction, unless a
  notice of the same key exists (a re-run records nothing);
- deliver_pending(): each delivery whose time has come is claimed (a conditional update, so two
  senders at once do not both send it), sent with a few quick tries (tenacity, exponential
  waits, a platform's Retry-After honoured), then marked sent; after a failed run it waits
  `backoff` × 2^(attempts−1) and, after the last attempt, is marked failed with the reason.
  A claim older than the lease (a sender that died between claim and mark) is taken up again.
- Non-urgent notices wait out the recipient's quiet hours; robots keep to their rate per minute,
  counted from the outbox itself so that every worker sees the same count.

Exactly once: a crash before the send leaves the row pending or claimed, and it goes later,
once. A crash in the instant between the platform's answer and the mark leaves a claim that is
sent again after the lease: e-mail keeps its Message-ID and the webhook its X-Envmon-Delivery,
by which a receiver recognises the copy; the robots have no such key (documented in the README).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt

from pipelines import clock
from pipelines.alerts import channels, messages
from pipelines.alerts import routing as routing_module
from pipelines.alerts.routing import Recipient, Routing, SecretMissing
from pipelines.config import Settings
from pipelines.reference import registry
from warehouse import alert_store

CLAIM_LEASE = timedelta(minutes=10)
MAX_RATE_WAIT_SECONDS = 65.0   # a robot's minute is waited out in-run; longer waits defer the row
sleep = time.sleep             # tests replace it


@dataclass
class DeliverySummary:
    attempted: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    held: int = 0
    deferred: int = 0
    errors: list[str] = field(default_factory=list)


def record(connection, routing: Routing, notice: dict, recipients: list[Recipient], now: datetime) -> int | None:
    """Store the notice and its deliveries (pending, or waiting for the end of quiet hours)."""
    rows = []
    seen = set()
    for recipient in recipients:
        if recipient.recipient_id in seen:
            continue
        seen.add(recipient.recipient_id)
        not_before = None
        if not notice["is_urgent"] and recipient.quiet_hours and recipient.quiet_hours.contains(now):
            not_before = recipient.quiet_hours.end_after(now)
        rows.append({"recipient_id": recipient.recipient_id, "channel": recipient.channel, "target": recipient.target,
                     "language": recipient.language, "status": "pending", "attempts": 0, "not_before": not_before,
                     "created_at": now})
    return alert_store.insert_notice(connection, {**notice, "created_at": now}, rows)


def deliver_pending(engine: Engine, settings: Settings, routing: Routing, now: datetime | None = None,
                    include_held: bool = True) -> DeliverySummary:
    """Send what is due. Held deliveries (a channel not configured) are tried again each time: the
    check costs nothing, and they go as soon as the server or secret is there."""
    summary = DeliverySummary()
    now = now or clock.now()
    notices: dict[int, dict] = {}
    for delivery in alert_store.due_deliveries(engine, now, CLAIM_LEASE, include_held):
        if delivery["notice_id"] not in notices:
            with engine.connect() as connection:
                notices[delivery["notice_id"]] = alert_store.notice(connection, delivery["notice_id"])
        _deliver_one(engine, settings, routing, delivery, notices[delivery["notice_id"]], summary)
    return summary


def _deliver_one(engine: Engine, settings: Settings, routing: Routing, delivery: dict, notice: dict,
                 summary: DeliverySummary) -> None:
    now = clock.now()
    recipient = routing.by_id(delivery["recipient_id"])
    if recipient is None:
        alert_store.finish_delivery(engine, delivery["delivery_id"], status="failed", claimed_at=None,
                                    last_error=f"recipient {delivery['recipient_id']} is no longer in {routing.source.name}")
        summary.failed += 1
        return
    if not notice["is_urgent"] and recipient.quiet_hours and recipient.quiet_hours.contains(now):
        alert_store.finish_delivery(engine, delivery["delivery_id"], status="pending", claimed_at=None,
                                    not_before=recipient.quiet_hours.end_after(now))
        summary.deferred += 1
        return
    if delivery["status"] == "held" and _still_held(settings, recipient):
        summary.held += 1
        return  # nothing has changed since: no claim, no write
    if not _within_rate(engine, recipient, delivery, summary):
        return
    if not alert_store.claim_delivery(engine, delivery, clock.now()):
        return  # another sender has it
    summary.attempted += 1
    facts = json.loads(notice["facts"])
    message = messages.render(facts, recipient.language)
    attempts = delivery["attempts"] + 1
    try:
        _send_with_retries(settings, routing, recipient, message, facts, delivery, notice)
    except channels.Held as error:
        alert_store.finish_delivery(engine, delivery["delivery_id"], status="held", claimed_at=None,
                                    last_error=str(error))
        summary.held += 1
        return
    except channels.Permanent as error:
        alert_store.finish_delivery(engine, delivery["delivery_id"], status="failed", attempts=attempts,
                                    claimed_at=None, last_error=str(error))
        summary.failed += 1
        summary.errors.append(f"{delivery['recipient_id']}: {error}")
        return
    except Exception as error:  # noqa: BLE001 - an unforeseen fault: counted and retried like a transient one
        if not isinstance(error, channels.Retryable):
            error = channels.Retryable(f"{type(error).__name__}: {error}")
        if attempts >= routing.max_attempts:
            alert_store.finish_delivery(engine, delivery["delivery_id"], status="failed", attempts=attempts,
                                        claimed_at=None, last_error=f"after {attempts} attempts: {error}")
            summary.failed += 1
            summary.errors.append(f"{delivery['recipient_id']}: {error}")
        else:
            wait = routing.backoff * 2 ** (attempts - 1)
            alert_store.finish_delivery(engine, delivery["delivery_id"], status="pending", attempts=attempts,
                                        claimed_at=None, last_error=str(error), not_before=clock.now() + wait)
            summary.retrying += 1
        return
    alert_store.finish_delivery(engine, delivery["delivery_id"], status="sent", attempts=attempts, claimed_at=None,
                                last_error=None, sent_at=clock.now())
    summary.sent += 1


def _wait(routing: Routing):
    def wait(retry_state) -> float:
        error = retry_state.outcome.exception()
        exponential = routing.retry_wait_seconds * 2 ** (retry_state.attempt_number - 1)
        asked = getattr(error, "retry_after", None) or 0.0
        return min(max(exponential, asked), 30.0)
    return wait


def _send_with_retries(settings, routing, recipient, message, facts, delivery, notice) -> str:
    retrying = Retrying(retry=retry_if_exception_type(channels.Retryable), stop=stop_after_attempt(routing.tries_per_attempt),
                        wait=_wait(routing), sleep=lambda seconds: sleep(seconds), reraise=True)
    try:
        for attempt in retrying:
            with attempt:
                return _send(settings, routing, recipient, message, facts, delivery, notice)
    except RetryError as error:  # reraise=True makes this rare; keep the last reason
        raise channels.Retryable(str(error.last_attempt.exception())) from None
    raise channels.Retryable("no attempt made")


def _send(settings, routing: Routing, recipient: Recipient, message, facts, delivery, notice) -> str:
    timeout = routing.timeout_seconds
    try:
        if recipient.channel == "email":
            sender = settings.smtp.sender if settings.smtp else "envmon@localhost"
            bureau = registry.bureaus().loc[recipient.bureau, "name_zh"] if recipient.bureau else None
            email = channels.email_message(recipient, message, delivery, sender, bureau)
            if settings.smtp is None:
                path = _write_eml(settings, delivery, email)
                raise channels.Held(f"no SMTP server configured (ENVMON_SMTP_HOST); written to {path}")
            return channels.send_email(settings.smtp, email, timeout)
        if recipient.channel == "wecom":
            return channels.send_wecom(recipient, message, timeout)
        if recipient.channel == "dingtalk":
            return channels.send_dingtalk(recipient, message, timeout, clock.now())
        return channels.send_webhook(recipient, message, facts, delivery, notice, timeout, clock.now())
    except SecretMissing as error:
        raise channels.Held(str(error)) from None


def _still_held(settings: Settings, recipient: Recipient) -> bool:
    if recipient.channel == "email":
        return settings.smtp is None
    try:
        for name in (*routing_module.SECRET_FIELDS.get(recipient.channel, ()), "url"):
            recipient.setting(name)
    except SecretMissing:
        return True
    return False


def _write_eml(settings: Settings, delivery: dict, email) -> str:
    settings.outbox_dir.mkdir(parents=True, exist_ok=True)
    path = settings.outbox_dir / f"delivery-{delivery['delivery_id']:06d}.eml"
    if not path.exists():
        path.write_bytes(bytes(email))
    return str(path)


def _within_rate(engine: Engine, recipient: Recipient, delivery: dict, summary: DeliverySummary) -> bool:
    """Wait (up to a minute) for the robot's rate, else defer the delivery past it."""
    limit = channels.rate_per_minute(recipient)
    if not limit:
        return True
    for _ in range(10):
        now = clock.now()
        recent = alert_store.sent_to_target_since(engine, recipient.channel, recipient.target, now - timedelta(minutes=1))
        if len(recent) < limit:
            return True
        free_at = recent[len(recent) - limit] + timedelta(minutes=1)
        wait = (free_at - now).total_seconds()
        if wait > MAX_RATE_WAIT_SECONDS:
            alert_store.finish_delivery(engine, delivery["delivery_id"], not_before=free_at)
            summary.deferred += 1
            return False
        sleep(max(wait, 0.05))
    alert_store.finish_delivery(engine, delivery["delivery_id"], not_before=clock.now() + timedelta(minutes=1))
    summary.deferred += 1
    return False
