"""What the alert tests share: a warehouse whose cross-boundary sections have the assessments of
a failure schedule (written as the nightly step writes them: the day's assessment from the same
classify function, the day's rollups, and the month-to-date row), a clock the tests move, a real
HTTP receiver on loopback for the robots and the webhook, and a routing file naming them."""
from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import random
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import date, datetime, time as clock_time, timedelta
from pathlib import Path

from pipelines.clock import BUREAU_TZ

# nh3n alone decides the class here: GB 3838-2002 Table 1, river: Ⅱ ≤ 0.5, Ⅲ ≤ 1.0, Ⅳ ≤ 1.5, Ⅴ ≤ 2.0
NH3N_FOR_CLASS = {"Ⅱ": 0.3, "Ⅲ": 0.8, "Ⅳ": 1.3, "Ⅴ": 1.8, "劣Ⅴ": 2.6}
OTHER_VALUES = {"ph": 7.4, "do": 7.2, "codmn": 2.8, "tp": 0.08}   # all class Ⅱ or better


def write_day(engine, day: date, classes: dict[str, str]) -> None:
    """Store the day's assessments and rollups of the sections in `classes` (section → the class
    its nh3n puts it in), then the month-to-date rows, as nightly.assess stores them."""
    import pandas as pd

    from pipelines.assessment import cross_boundary, daily, rollups as rollup_rules, surface_water
    from pipelines.reference import registry
    from warehouse import db

    sections = registry.sections()
    rows, rollup_rows = [], []
    for section_id, water_class in classes.items():
        values = {**OTHER_VALUES, "nh3n": NH3N_FOR_CLASS[water_class]}
        target = sections.loc[section_id, "target_class"]
        verdict = surface_water.classify(values, registry.water_body_type(section_id), target)
        rows.append(daily._assessment_row(section_id, day, "surface_water", daily.SURFACE_WATER_STANDARD, verdict,
                                          target, verdict.is_compliant, verdict.grade, 6 * len(values), True))
        for parameter, value in values.items():
            rollup_rows.append({"station_id": section_id, "parameter": parameter, "averaging_period": "PT0S",
                                "period": "day", "period_start": day, "mean": value, "minimum": value,
                                "maximum": value, "values_assessable": 6, "values_flagged": 0, "values_censored": 0,
                                "days_with_data": 1, "detection_limit": None, "reported_mean": str(value),
                                "censoring_method": None})
    db.replace_assessments(engine, "surface_water", day, rows)
    db.replace_rollups(engine, "day", day, pd.DataFrame(rollup_rows))
    month_start = day.replace(day=1)
    days = db.daily_rollups_between(engine, month_start, month_start + timedelta(days=31))
    monthly = rollup_rules.monthly(days, month_start)
    db.replace_rollups(engine, "month", month_start, monthly)
    db.replace_assessments(engine, "surface_water", month_start,
                           [r for r in cross_boundary.month_to_date_rows(monthly, month_start)
                            if r["station_id"] in classes], period="month")


def night_after(day: date, hour: int = 2, minute: int = 30) -> datetime:
    """The nightly run's time for `day`: early next morning, bureau time."""
    return datetime.combine(day + timedelta(days=1), clock_time(hour, minute), BUREAU_TZ)


@dataclass
class FakeClock:
    """pipelines.clock.now and the outbox's sleep, moved by the test (sleeping moves it too)."""
    moment: datetime

    def now(self) -> datetime:
        return self.moment

    def sleep(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)

    def set(self, moment: datetime) -> None:
        self.moment = moment

    def advance(self, **delta) -> None:
        self.moment += timedelta(**delta)


def install_clock(monkeypatch, start: datetime) -> FakeClock:
    from pipelines import clock
    from pipelines.alerts import outbox

    fake = FakeClock(start)
    monkeypatch.setattr(clock, "now", fake.now)
    monkeypatch.setattr(outbox, "sleep", fake.sleep)
    return fake


# --- the HTTP receiver ---------------------------------------------------------------------

WECOM_KEY = "wecom-key-for-tests"
DINGTALK_TOKEN = "dingtalk-token-for-tests"
DINGTALK_SECRET = "SECdingtalk-secret-for-tests"
WEBHOOK_SECRET = "webhook-secret-for-tests"
FAILURES = ("http500", "timeout", "rate_limited")


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that checks each platform's format and signature and keeps
    what it accepted. `fail_rate`: the share of requests answered with a failure (5xx, a hang past
    the sender's timeout, or the platform's rate-limit answer), drawn from a seeded generator."""
    fail_rate: float = 0.0
    seed: int = 13
    hang_seconds: float = 1.0
    accepted: list = field(default_factory=list)      # (path, payload, headers)
    rejected: list = field(default_factory=list)      # (path, reason)
    requests: int = 0
    failures: dict = field(default_factory=dict)

    def __post_init__(self):
        self.random = random.Random(self.seed)
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                receiver.handle(self)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _answer(self, handler, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        try:
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass   # the sender gave up waiting (a hang on purpose)

    def handle(self, handler) -> None:
        length = int(handler.headers.get("Content-Length", 0))
        body = handler.rfile.read(length)
        url = urllib.parse.urlsplit(handler.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        platform = url.path.strip("/").split("/")[0]
        with self.lock:
            self.requests += 1
            failure = self.random.choice(FAILURES) if self.random.random() < self.fail_rate else None
            if failure:
                self.failures[failure] = self.failures.get(failure, 0) + 1
        if failure == "timeout":
            time.sleep(self.hang_seconds)  # the sender has given up: nothing is accepted
            return self._answer(handler, 504, {"error": "hung"})
        if failure == "http500":
            return self._answer(handler, 500, {"error": "boom"})
        reason = self.check(platform, url.path, query, body, handler.headers)
        if reason:
            with self.lock:
                self.rejected.append((url.path, reason))
            if platform == "webhook":
                return self._answer(handler, 401, {"error": reason})
            return self._answer(handler, 200, {"errcode": 310000 if platform == "dingtalk" else 93000, "errmsg": reason})
        if failure == "rate_limited":
            if platform == "wecom":
                return self._answer(handler, 200, {"errcode": 45009, "errmsg": "api freq out of limit"})
            if platform == "dingtalk":
                return self._answer(handler, 200, {"errcode": 130101, "errmsg": "send too fast"})
            return self._answer(handler, 429, {"error": "slow down"}, {"Retry-After": "0"})
        with self.lock:
            self.accepted.append((url.path, json.loads(body), dict(handler.headers)))
        return self._answer(handler, 200, {"errcode": 0, "errmsg": "ok"})

    @staticmethod
    def check(platform: str, path: str, query: dict, body: bytes, headers) -> str | None:
        """The platform's own checks: key, signature, message shape and size."""
        try:
            payload = json.loads(body)
        except ValueError:
            return "not JSON"
        if platform == "wecom":
            if query.get("key") != WECOM_KEY:
                return "invalid webhook url (key)"
            if payload.get("msgtype") != "markdown" or len(payload["markdown"]["content"].encode()) > 4096:
                return "markdown content missing or over 4096 bytes"
            return None
        if platform == "dingtalk":
            if query.get("access_token") != DINGTALK_TOKEN:
                return "token is not exist"
            timestamp = query.get("timestamp", "")
            digest = hmac.new(DINGTALK_SECRET.encode(), f"{timestamp}\n{DINGTALK_SECRET}".encode(), hashlib.sha256).digest()
            if query.get("sign") != base64.b64encode(digest).decode():   # parse_qsl has url-decoded it
                return "sign not match"
            if payload.get("msgtype") != "markdown" or not payload["markdown"].get("title"):
                return "markdown title and text required"
            return None
        if platform == "webhook":
            timestamp = headers.get("X-Envmon-Timestamp", "")
            expected = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + body,
                                            hashlib.sha256).hexdigest()
            if not hmac.compare_digest(headers.get("X-Envmon-Signature", ""), expected):
                return "bad signature"
            if not headers.get("X-Envmon-Delivery"):
                return "no delivery id"
            return None
        return f"unknown path {path}"

    def accepted_on(self, prefix: str) -> list:
        return [a for a in self.accepted if a[0].startswith(prefix)]


def routing_file(tmp_path: Path, receiver_url: str | None, **overrides) -> Path:
    """A routing file: the bureaus of the test sections on every channel, operators on a webhook."""
    delivery = {"tries_per_attempt": 2, "retry_wait_seconds": 0.01, "max_attempts": 8, "backoff_minutes": 5,
                "timeout_seconds": 0.4, **overrides.pop("delivery", {})}
    episodes = {"resolve_after_compliant_days": 3, "escalate_after_hours": 1000, **overrides.pop("episodes", {})}
    url = receiver_url or "http://127.0.0.1:9"
    lines = ["[episodes]", *(f"{k} = {v}" for k, v in episodes.items()),
             "[delivery]", *(f"{k} = {v}" for k, v in delivery.items()),
             "[operational]", 'silent_after_hours = { "cnemc-air" = 6, "cnemc-water" = 12 }', "usual_days = 28"]
    recipients = overrides.pop("recipients", [
        {"bureau": "yulin", "channel": "wecom", "name": "玉林值班群", "url": f"{url}/wecom/cgi-bin/webhook/send",
         "key": "env:ENVMON_TEST_WECOM_KEY"},
        {"bureau": "yulin", "channel": "email"},
        {"bureau": "zhanjiang", "channel": "dingtalk", "name": "湛江值班群", "url": f"{url}/dingtalk/robot/send",
         "access_token": "env:ENVMON_TEST_DINGTALK_TOKEN", "secret": "env:ENVMON_TEST_DINGTALK_SECRET"},
        {"bureau": "fangchenggang", "channel": "dingtalk", "name": "防城港值班群", "url": f"{url}/dingtalk/fcg/robot/send",
         "access_token": "env:ENVMON_TEST_DINGTALK_TOKEN", "secret": "env:ENVMON_TEST_DINGTALK_SECRET"},
        {"bureau": "beihai", "channel": "email", "language": "en"},
        {"bureau": "qinzhou", "channel": "wecom", "name": "钦州值班群", "url": f"{url}/wecom/qz/cgi-bin/webhook/send",
         "key": "env:ENVMON_TEST_WECOM_KEY"},
        {"bureau": "gx-dept", "channel": "webhook", "name": "自治区厅", "url": f"{url}/webhook/gx",
         "secret": "env:ENVMON_TEST_WEBHOOK_SECRET"},
        {"bureau": "gx-dept", "channel": "email"},
        {"bureau": "gd-dept", "channel": "email"},
    ])
    operators = overrides.pop("operators", [
        {"name": "ops", "channel": "webhook", "url": f"{url}/webhook/ops", "secret": "env:ENVMON_TEST_WEBHOOK_SECRET"}])
    for table, entries in (("recipients", recipients), ("operators", operators)):
        for entry in entries:
            lines.append(f"[[{table}]]")
            lines += [f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in entry.items()]
    path = tmp_path / "alert_routing.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def secrets_environment(monkeypatch) -> None:
    monkeypatch.setenv("ENVMON_TEST_WECOM_KEY", WECOM_KEY)
    monkeypatch.setenv("ENVMON_TEST_DINGTALK_TOKEN", DINGTALK_TOKEN)
    monkeypatch.setenv("ENVMON_TEST_DINGTALK_SECRET", DINGTALK_SECRET)
    monkeypatch.setenv("ENVMON_TEST_WEBHOOK_SECRET", WEBHOOK_SECRET)


def settings_for(tmp_path: Path, routing: Path, smtp=None, warehouse_url: str | None = None):
    from pipelines.config import load_settings
    from warehouse import db

    environ = {"ENVMON_HOME": str(tmp_path / "home"), "ENVMON_ALERT_ROUTING": str(routing)}
    if warehouse_url:
        environ["ENVMON_WAREHOUSE_URL"] = warehouse_url
    if smtp is not None:
        environ.update({"ENVMON_SMTP_HOST": smtp.hostname, "ENVMON_SMTP_PORT": str(smtp.port),
                        "ENVMON_ALERT_FROM": "envmon@test.local"})
    settings = load_settings(environ)
    engine = db.engine_for(settings.warehouse_url)
    db.migrate(engine)
    return settings, engine


class FlakySmtpHandler:
    """aiosmtpd handler keeping what it accepts; `fail_rate` of messages get 451 (try again later)."""

    def __init__(self, fail_rate: float = 0.0, seed: int = 7):
        self.messages = []
        self.refused = 0
        self.fail_rate = fail_rate
        self.random = random.Random(seed)

    async def handle_DATA(self, server, session, envelope):
        from email import message_from_bytes
        from email.policy import default

        if self.random.random() < self.fail_rate:
            self.refused += 1
            return "451 4.3.0 try again later"
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=default)))
        return "250 OK"


def smtp_controller(handler):
    from aiosmtpd.controller import Controller

    from tests.conftest import free_port

    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    return controller
