"""The four channels, each as its platform wants it (../shared/reference/stack-notes.md, "Alert
channels"):

- e-mail over SMTP: plain text and HTML alternatives, UTF-8 subject (RFC 2047); the Message-ID is
  the delivery's, so a copy sent twice after a crash is one message to a mail client;
- WeCom group robot: POST …/cgi-bin/webhook/send?key=KEY, {"msgtype": "markdown", "markdown":
  {"content": …}}, content at most 4,096 bytes, 20 messages a minute, no signing;
- DingTalk custom robot: POST …/robot/send?access_token=T&timestamp=MS&sign=S with S the
  url-encoded base64 of HMAC-SHA256(key=secret, msg="{MS}\\n{secret}"), {"msgtype": "markdown",
  "markdown": {"title", "text"}, "at": {…}}, 20 a minute; its documents give no markdown size that
  we could confirm, so the WeCom limit (4,096 bytes) is kept as an assumption;
- generic JSON webhook: the notice as JSON, signed: X-Envmon-Signature = "sha256=" + hex
  HMAC-SHA256(key=secret, msg="{timestamp}." + body), X-Envmon-Timestamp in epoch seconds,
  X-Envmon-Delivery the delivery id (the receiver's idempotency key), X-Envmon-Notice the notice id;
  at most 65,536 bytes.

A send raises Retryable (5xx, timeouts, a refused connection, a platform's rate-limit answer),
Permanent (the platform refused the message: a bad key, a bad signature) or Held (the channel is
not configured here: no SMTP server, a secret not set); pipelines/alerts/outbox.py decides what
follows. No secret appears in an error: URLs are shown without their query.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import smtplib
import urllib.parse
from datetime import datetime
from email.message import EmailMessage
from email.utils import formataddr

import httpx

from pipelines.alerts.messages import Message
from pipelines.alerts.routing import Recipient, SecretMissing

WECOM_MAX_BYTES = 4096
DINGTALK_MAX_BYTES = 4096      # assumed (see above)
WEBHOOK_MAX_BYTES = 65536
ROBOT_RATE_PER_MINUTE = 20
# platform answers (HTTP 200 with an error code) that mean "too fast" or "busy": try again later
WECOM_RETRYABLE = {-1, 45009, 45033}
DINGTALK_RETRYABLE = {-1, 130101, 410100, 90018}


class _QueryRedactor(logging.Filter):
    """httpx logs each request's URL at INFO, query included, and the WeCom key and the DingTalk
    token and signature travel in the query: the records keep the URL without it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(arg.copy_with(query=None) if isinstance(arg, httpx.URL) and arg.query else arg
                                for arg in record.args)
        return True


logging.getLogger("httpx").addFilter(_QueryRedactor())


class Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


class Permanent(Exception):
    pass


class Held(Exception):
    pass


def rate_per_minute(recipient: Recipient) -> int | None:
    configured = recipient.settings.get("rate_per_minute")
    if configured is not None:
        return int(configured)
    return ROBOT_RATE_PER_MINUTE if recipient.channel in ("wecom", "dingtalk") else None


def fit(lines: list[str], max_bytes: int) -> str:
    """Markdown within max_bytes (UTF-8): item lines ("- …") are dropped from the last one up, with
    a note of how many; the note is the last element, marked with a NUL, and shown only then."""
    note = lines[-1][1:] if lines and lines[-1].startswith("\x00") else None
    body = [line for line in lines if not line.startswith("\x00")]
    items = [i for i, line in enumerate(body) if line.startswith("- ")]
    for dropped in range(len(items) + 1):
        gone = items[len(items) - dropped:]
        kept = [line for i, line in enumerate(body) if i not in gone]
        if gone and note:
            kept.insert(gone[0], f"- …{note.format(n=dropped)}")
        text = "\n".join(kept)
        if len(text.encode()) <= max_bytes:
            return text
    # still too long without items: cut at a character boundary
    return text.encode()[:max_bytes - 3].decode("utf-8", errors="ignore") + "…"


def _post(url: str, timeout: float, **kwargs) -> httpx.Response:
    shown = url.split("?", 1)[0]
    try:
        response = httpx.post(url, timeout=timeout, **kwargs)
    except httpx.TimeoutException:
        raise Retryable(f"timeout after {timeout:g} s: {shown}") from None
    except httpx.TransportError as error:
        raise Retryable(f"{type(error).__name__} posting to {shown}") from None
    if response.status_code == 429:
        raise Retryable(f"HTTP 429 rate limited by {shown}", _retry_after(response))
    if response.status_code >= 500:
        raise Retryable(f"HTTP {response.status_code} from {shown}", _retry_after(response))
    if response.status_code >= 400:
        raise Permanent(f"HTTP {response.status_code} from {shown}: {response.text[:200]}")
    return response


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None


def _platform_answer(response: httpx.Response, retryable: set[int], platform: str) -> str:
    try:
        answer = response.json()
    except ValueError:
        raise Retryable(f"{platform} answered HTTP {response.status_code} without JSON") from None
    code = answer.get("errcode", 0)
    if code == 0:
        return f"{platform} ok"
    reason = f"{platform} errcode {code}: {answer.get('errmsg', '')}"
    if code in retryable:
        raise Retryable(reason, 60.0 if code not in (-1,) else None)
    raise Permanent(reason)


def send_wecom(recipient: Recipient, message: Message, timeout: float) -> str:
    key = _secret(recipient, "key")
    content = fit(message.markdown_lines, int(recipient.settings.get("max_bytes", WECOM_MAX_BYTES)))
    url = f"{recipient.setting('url')}?{urllib.parse.urlencode({'key': key})}"
    response = _post(url, timeout, json={"msgtype": "markdown", "markdown": {"content": content}})
    return _platform_answer(response, WECOM_RETRYABLE, "WeCom")


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest))


def send_dingtalk(recipient: Recipient, message: Message, timeout: float, now: datetime) -> str:
    token, secret = _secret(recipient, "access_token"), _secret(recipient, "secret")
    timestamp = int(now.timestamp() * 1000)
    text = fit(message.markdown_lines, int(recipient.settings.get("max_bytes", DINGTALK_MAX_BYTES)))
    # the sign is url-encoded already: put the query together by hand so it is not encoded twice
    url = (f"{recipient.setting('url')}?access_token={urllib.parse.quote_plus(token)}"
           f"&timestamp={timestamp}&sign={dingtalk_sign(secret, timestamp)}")
    body = {"msgtype": "markdown", "markdown": {"title": message.markdown_title[:64], "text": text},
            "at": {"atMobiles": list(recipient.settings.get("at_mobiles", [])), "isAtAll": False}}
    response = _post(url, timeout, json=body)
    return _platform_answer(response, DINGTALK_RETRYABLE, "DingTalk")


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def webhook_body(message: Message, facts: dict, delivery: dict, notice: dict, max_bytes: int) -> bytes:
    payload = {"event": "envmon.alert", "delivery_id": delivery["delivery_id"], "notice_id": notice["notice_id"],
               "notice_key": notice["notice_key"], "category": notice["category"], "kind": notice["kind"],
               "urgent": bool(notice["is_urgent"]), "subject": message.subject, "text": message.text, "facts": facts}
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
    if len(body) > max_bytes:  # the facts' item list is what grows: keep the text, drop the list
        payload["facts"] = {k: v for k, v in facts.items() if k != "items"} | {"items_dropped": len(facts.get("items", []))}
        payload["text"] = fit(message.text.splitlines(), max_bytes // 2)
        body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
    return body


def send_webhook(recipient: Recipient, message: Message, facts: dict, delivery: dict, notice: dict,
                 timeout: float, now: datetime) -> str:
    url, secret = recipient.setting("url"), _secret(recipient, "secret")
    body = webhook_body(message, facts, delivery, notice, int(recipient.settings.get("max_bytes", WEBHOOK_MAX_BYTES)))
    timestamp = int(now.timestamp())
    headers = {"Content-Type": "application/json; charset=utf-8", "X-Envmon-Timestamp": str(timestamp),
               "X-Envmon-Signature": webhook_signature(secret, timestamp, body),
               "X-Envmon-Delivery": str(delivery["delivery_id"]), "X-Envmon-Notice": str(notice["notice_id"])}
    response = _post(url, timeout, content=body, headers=headers)
    return f"webhook HTTP {response.status_code}"


def email_message(recipient: Recipient, message: Message, delivery: dict, sender: str, bureau_name: str | None) -> EmailMessage:
    email = EmailMessage()
    email["Subject"] = message.subject
    email["From"] = sender
    email["To"] = formataddr((bureau_name, recipient.target)) if bureau_name else recipient.target
    email["Message-ID"] = f"<envmon.delivery.{delivery['delivery_id']}@envmon>"
    email.set_content(message.text)
    email.add_alternative(message.html, subtype="html")
    return email


def send_email(smtp, email: EmailMessage, timeout: float) -> str:
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=timeout) as client:
            if smtp.starttls:
                client.starttls()
            if smtp.user:
                client.login(smtp.user, smtp.password or "")
            client.send_message(email)
    except smtplib.SMTPResponseException as error:
        reason = f"SMTP {error.smtp_code}: {error.smtp_error.decode(errors='replace') if isinstance(error.smtp_error, bytes) else error.smtp_error}"
        if 400 <= error.smtp_code < 500:
            raise Retryable(reason) from None
        raise Permanent(reason) from None
    except smtplib.SMTPRecipientsRefused as error:
        raise Permanent(f"SMTP refused {', '.join(error.recipients)}") from None
    except (OSError, smtplib.SMTPException) as error:
        raise Retryable(f"{type(error).__name__}: {error}") from None
    return f"SMTP {smtp.host}:{smtp.port}"


def _secret(recipient: Recipient, name: str) -> str:
    try:
        return recipient.secret(name)
    except SecretMissing as error:
        raise Held(str(error)) from None
