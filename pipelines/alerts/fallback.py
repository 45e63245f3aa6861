"""The operators' second path: how they are told when the outbox cannot tell them.

The outbox (outbox.py) lives in the warehouse and sends through the routing file's channels. When
the warehouse is down, or the channel the operators' notices go through is what is broken (no
SMTP server, a robot secret missing), a notice recorded there reaches nobody. This path needs
neither: one Airflow connection, `envmon_operators`, read through the Task SDK (so it may be made
in Airflow's UI, or given as AIRFLOW_CONN_ENVMON_OPERATORS in .env.alerts), and one message sent
at once, without the outbox:

- a webhook: connection type `http` or `https`; the URL is {type}://{host}[:{port}]/{schema} (the
  URI form: AIRFLOW_CONN_ENVMON_OPERATORS='https://:SECRET@ops.example.org/hooks/envmon'); the
  password, when set, signs the body as the routing's webhooks are signed (X-Envmon-Signature);
- e-mail: connection type `smtp`: host, port, login, password; extra `to` (comma-separated),
  `from`, `starttls` (AIRFLOW_CONN_ENVMON_OPERATORS='smtp://USER:PASSWORD@smtp.example.org:587/?to=ops%40example.org&starttls=true').

Used by pipelines.alerts.on_failure (the DAGs' on_failure_callback) for a failed run whose notice
could not be recorded or sent, and for the alert DAG's backlog check (health.DeliveryBacklog).
Nothing here raises out of `tell_operators`: a callback that fails would hide what it reports.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage

log = logging.getLogger(__name__)
CONNECTION_ID = "envmon_operators"
TIMEOUT_SECONDS = 10.0


class NoSecondPath(LookupError):
    """The connection is not there or says nothing envmon can send through; the message says why."""


@dataclass(frozen=True)
class SecondPath:
    kind: str                      # webhook, email
    target: str                    # the URL without its query, or the addresses: shown, never a secret
    url: str | None = None
    host: str | None = None
    port: int | None = None
    login: str | None = None
    starttls: bool = False
    sender: str = "envmon@localhost"
    recipients: tuple[str, ...] = ()
    secret: str | None = field(default=None, repr=False)


def second_path(conn_id: str = CONNECTION_ID) -> SecondPath:
    """The operators' second path from the Airflow connection `conn_id`; NoSecondPath if none."""
    try:
        from airflow.sdk import Connection

        connection = Connection.get(conn_id)
    except Exception as error:  # noqa: BLE001 - not defined, or no Airflow here: the reason, no value
        raise NoSecondPath(f"Airflow connection {conn_id} is not defined "
                           f"(AIRFLOW_CONN_{conn_id.upper()} or Airflow's connections; {type(error).__name__})") from None
    kind = (connection.conn_type or "").lower()
    extra = connection.extra_dejson or {}
    if kind in ("http", "https"):
        host = connection.host or ""
        if not host:
            raise NoSecondPath(f"Airflow connection {conn_id} ({kind}) has no host")
        if "://" in host:  # a whole URL written as the host (Airflow's UI allows it)
            url = host
        else:
            port = f":{connection.port}" if connection.port else ""
            url = f"{kind}://{host}{port}/{(connection.schema or '').lstrip('/')}"
        return SecondPath("webhook", url.split("?", 1)[0], url=url, secret=connection.password or None)
    if kind in ("smtp", "email"):
        recipients = tuple(a.strip() for a in str(extra.get("to", "")).split(",") if a.strip())
        if not connection.host or not recipients:
            raise NoSecondPath(f"Airflow connection {conn_id} (smtp) needs a host and extra 'to'")
        return SecondPath("email", ", ".join(recipients), host=connection.host, port=int(connection.port or 25),
                          login=connection.login or None, secret=connection.password or None,
                          starttls=str(extra.get("starttls", "false")).lower() in ("1", "true", "yes"),
                          sender=str(extra.get("from") or "envmon@localhost"), recipients=recipients)
    raise NoSecondPath(f"Airflow connection {conn_id} has type {kind or 'none'!r}; envmon sends through "
                       "http, https (a webhook) or smtp")


def send(path: SecondPath, subject: str, text: str, facts: dict, key: str, now: datetime | None = None,
         timeout: float = TIMEOUT_SECONDS) -> str:
    """One message through the second path, at once (raises channels.Retryable or Permanent)."""
    from pipelines import clock
    from pipelines.alerts import channels

    now = now or clock.now()
    if path.kind == "webhook":
        body = json.dumps({"event": "envmon.operational", "key": key, "subject": subject, "text": text,
                           "facts": facts}, ensure_ascii=False, sort_keys=True, default=str).encode()
        timestamp = int(now.timestamp())
        # the key is the receiver's idempotency key, as X-Envmon-Delivery is for the outbox's deliveries
        headers = {"Content-Type": "application/json; charset=utf-8", "X-Envmon-Timestamp": str(timestamp),
                   "X-Envmon-Delivery": f"second-path/{key}"}
        if path.secret:
            headers["X-Envmon-Signature"] = channels.webhook_signature(path.secret, timestamp, body)
        channels._post(path.url, timeout, content=body, headers=headers)
        return f"webhook {path.target}"
    email = EmailMessage()
    email["Subject"], email["From"], email["To"] = subject, path.sender, ", ".join(path.recipients)
    email["Message-ID"] = f"<envmon.second-path.{hashlib.sha256(key.encode()).hexdigest()[:20]}@envmon>"
    email.set_content(text)
    smtp = _Smtp(path.host, path.port, path.login, path.secret, path.starttls)
    return channels.send_email(smtp, email, timeout)


@dataclass(frozen=True)
class _Smtp:  # the shape channels.send_email reads (config.SmtpSettings without a sender)
    host: str
    port: int
    user: str | None
    password: str | None
    starttls: bool


def failure_facts(context) -> dict:
    """The facts of a failed task, as operational.dag_failed records them."""
    task_instance = context.get("task_instance") or context.get("ti")
    dag_run = context.get("dag_run")
    error = context.get("exception")
    return {"category": "operational", "kind": "dag_failed",
            "dag_id": getattr(task_instance, "dag_id", None) or getattr(dag_run, "dag_id", "?"),
            "run_id": getattr(task_instance, "run_id", None) or getattr(dag_run, "run_id", "?"),
            "task_id": getattr(task_instance, "task_id", "?"),
            "error": f"{type(error).__name__}: {str(error)[:1500]}" if error else None,
            "log_url": getattr(task_instance, "log_url", None)}


def tell_operators(context, why: str) -> bool:
    """The failed run of `context` to the operators through the second path; True when it went.
    `why`: the line that says why this path (the warehouse was unreachable, the notice went
    nowhere, the outbox is stuck). Never raises."""
    try:
        from pipelines.alerts import messages

        facts = failure_facts(context)
        facts["subject_id"] = facts["dag_id"]
        message = messages.render(facts, "zh")
        text = f"{why}\n\n{message.text}"
        path = second_path()
        sent = send(path, message.subject, text, facts, f"{facts['dag_id']}/{facts['run_id']}/{facts['task_id']}")
        log.warning("envmon: the operators were told through the second path (%s): %s", sent, why)
        return True
    except Exception:  # noqa: BLE001 - logged, never raised (see above)
        log.exception("envmon: the operators could not be told through the second path either (%s)", why)
        return False


def check(send_test: bool = True, now: datetime | None = None) -> dict:
    """The second path as `envmon alerts check-channels` reports it: configured, and (send_test)
    a test message accepted."""
    try:
        path = second_path()
    except NoSecondPath as error:
        return {"ok": False, "kind": None, "target": None, "tested": False, "reason": str(error)}
    result = {"ok": True, "kind": path.kind, "target": path.target, "tested": False, "reason": None}
    if send_test:
        from pipelines import clock

        try:
            send(path, "[envmon 运维] 第二通道测试 / second-path test",
                 "envmon 部署启动时的测试消息: 运维人员的第二通道可用。\n"
                 "A test at deployment start: the operators' second path works.", {"kind": "channel_test"},
                 f"channel-test/{int((now or clock.now()).timestamp())}", now)
            result["tested"] = True
        except Exception as error:  # noqa: BLE001 - any failure is the answer
            result.update(ok=False, reason=f"{type(error).__name__}: {error}")
    return result


__all__ = ["CONNECTION_ID", "NoSecondPath", "SecondPath", "second_path", "send", "tell_operators", "check"]
