"""Signing in to the dashboard, as 等保 2.0 asks: failures handled, sessions timed out, security
events audited.

- Throttling (Flask-Limiter): sign-in attempts per address and per user name, each within a rate
  (ENVMON_LOGIN_RATE_PER_ADDRESS, ENVMON_LOGIN_RATE_PER_USER); past it, 429 and the login page.
- Lockout: ENVMON_LOGIN_MAX_FAILURES failed sign-ins of a name within ENVMON_LOGIN_LOCKOUT_MINUTES
  lock it for as many minutes. Counted from the audit log in the warehouse (security_audit), so it
  holds across the app's processes and workers and across a restart.
- One answer: a wrong name, a wrong password, a missing or wrong code, a disabled or a locked
  account all get the same page, status and time (the password is hashed whatever the name); only
  the audit log says which it was.
- A second factor: a user with a TOTP secret (`envmon users add --totp`) signs in with the code of
  the moment; without it, or with a wrong one, the sign-in fails and counts toward the lockout.
- Idle sessions end after ENVMON_DASHBOARD_IDLE_MINUTES without a request; a disabled user's
  session is refused at its next request (the user loader reads the users file each time).
- The audit log (warehouse/security_audit.py) records each sign-in and failure, lockout, logout
  and expiry, through ENVMON_DASHBOARD_AUDIT_URL (see audit_url_of). Where it cannot be written,
  nobody signs in (503): a sign-in is never left unrecorded.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from dashboards.app import users as users_module

log = logging.getLogger(__name__)
SEEN_KEY = "envmon_seen"  # the session's last request, Unix seconds on pipelines.clock
STARTED_KEY = "envmon_started"  # its sign-in: the session's whole length counts from it
AUDIT_TABLE = "security-audit"  # the Data quality page's table of the audit log (its callback is never cached)
ENV_VARS = ("ENVMON_LOGIN_MAX_FAILURES", "ENVMON_LOGIN_LOCKOUT_MINUTES", "ENVMON_LOGIN_RATE_PER_USER",
            "ENVMON_LOGIN_RATE_PER_ADDRESS", "ENVMON_LOGIN_LIMITER_STORAGE", "ENVMON_DASHBOARD_IDLE_MINUTES",
            "ENVMON_DASHBOARD_AUDIT_URL")


class AuditUnavailable(RuntimeError):
    """The audit log cannot be written: nobody signs in unrecorded."""


@dataclass(frozen=True)
class LoginRules:
    max_failures: int = 5               # failed sign-ins of one name ...
    lockout_minutes: float = 15.0       # ... within these minutes lock it for as long
    idle_minutes: float = 30.0          # a session without a request for this long ends
    rate_per_user: str = "10 per minute"       # attempts at one name, from anywhere
    rate_per_address: str = "30 per minute"    # attempts from one address, at any names
    limiter_storage: str = "memory://"  # the throttle's counters (redis://... to share them between processes)


def login_rules(environ=None) -> LoginRules:
    """The sign-in settings from the environment; a bad value is one clear error."""
    from limits import parse_many

    env = os.environ if environ is None else environ
    defaults = LoginRules()

    def number(name: str, default, kind, least):
        text = env.get(name)
        if not text:
            return default
        try:
            value = kind(text)
        except ValueError:
            raise ValueError(f"{name} must be a number, not {text!r}") from None
        if value < least:
            raise ValueError(f"{name} must be at least {least}, not {text!r}")
        return value

    rules = LoginRules(
        max_failures=number("ENVMON_LOGIN_MAX_FAILURES", defaults.max_failures, int, 1),
        lockout_minutes=number("ENVMON_LOGIN_LOCKOUT_MINUTES", defaults.lockout_minutes, float, 0.01),
        idle_minutes=number("ENVMON_DASHBOARD_IDLE_MINUTES", defaults.idle_minutes, float, 0.01),
        rate_per_user=env.get("ENVMON_LOGIN_RATE_PER_USER") or defaults.rate_per_user,
        rate_per_address=env.get("ENVMON_LOGIN_RATE_PER_ADDRESS") or defaults.rate_per_address,
        limiter_storage=env.get("ENVMON_LOGIN_LIMITER_STORAGE") or defaults.limiter_storage)
    for name, rate in (("ENVMON_LOGIN_RATE_PER_USER", rules.rate_per_user),
                       ("ENVMON_LOGIN_RATE_PER_ADDRESS", rules.rate_per_address)):
        try:
            parse_many(rate)
        except ValueError:
            raise ValueError(f"{name} must be a rate such as '10 per minute', not {rate!r}") from None
    return rules


def audit_url_of(env, settings) -> str | None:
    """Where the app writes the audit log: ENVMON_DASHBOARD_AUDIT_URL; else the acknowledging
    role's URL (deploy/dashboard-ack-role.sql lets it add audit rows); else, without a read-only
    URL (one URL for everything, development), ENVMON_WAREHOUSE_URL."""
    from dashboards.app import ack_url_of

    return env.get("ENVMON_DASHBOARD_AUDIT_URL") or ack_url_of(env, settings)


class SignIn:
    """The sign-in checks of one app: `attempt` at the login form, `started` after a sign-in,
    `ended` at logout, `expired` on each request (the idle timeout)."""

    def __init__(self, users_path, audit_engine, rules: LoginRules):
        self.users_path = users_path
        self.audit_engine = audit_engine
        self.rules = rules

    def attempt(self, name: str, password: str, code: str | None, address: str | None):
        """The user, or None (one answer for every failure). Raises AuditUnavailable where the
        audit log cannot be written."""
        from pipelines import clock
        from warehouse import security_audit

        user, reason = users_module.check(self.users_path, name, password, code)  # hashes, whatever the name
        if self.audit_engine is None:
            return user
        now = clock.now()
        try:
            with self.audit_engine.begin() as connection:
                if security_audit.locked_until(connection, name, self.rules.lockout_minutes, now):
                    security_audit.record(connection, "sign_in_failed", name, address, security_audit.LOCKED, now)
                    return None
                if user is not None:
                    security_audit.record(connection, "sign_in", name, address, None, now)
                    return user
                security_audit.record(connection, "sign_in_failed", name, address, reason, now)
                failures = security_audit.failures_in_window(connection, name, self.rules.lockout_minutes, now)
                if failures >= self.rules.max_failures:
                    security_audit.record(connection, "lockout", name, address,
                                          f"{failures} failed sign-ins within {self.rules.lockout_minutes:g} min: "
                                          f"locked for {self.rules.lockout_minutes:g} min", now)
                    log.warning("sign-in of %r locked after %s failures (last from %s)", name, failures, address)
                return None
        except Exception as error:  # noqa: BLE001 - a sign-in is never let through unrecorded
            log.exception("the security audit log could not be written")
            raise AuditUnavailable(str(error)) from error

    def record(self, event: str, name: str | None, address: str | None, detail: str | None = None) -> None:
        """An event outside the sign-in (logout, expiry, acknowledgement); logged if it cannot be written."""
        from warehouse import security_audit

        if self.audit_engine is None:
            return
        try:
            security_audit.record(self.audit_engine, event, name, address, detail)
        except Exception:  # noqa: BLE001 - the user is signed out all the same
            log.exception("the security audit log could not be written (%s of %s)", event, name)

    def started(self, session) -> None:
        from pipelines import clock

        session[STARTED_KEY] = session[SEEN_KEY] = clock.now().timestamp()

    def expired(self, session, lifetime_seconds: float) -> bool:
        """True if the session has been idle too long, or has lasted its whole lifetime since the
        sign-in (or recorded neither); else notes this request. The whole length is checked here:
        noting each request re-signs the cookie, which would otherwise make the lifetime slide."""
        from pipelines import clock

        now = clock.now().timestamp()
        seen, started = session.get(SEEN_KEY), session.get(STARTED_KEY)
        if not isinstance(seen, (int, float)) or not isinstance(started, (int, float)):
            return True
        if now - seen > self.rules.idle_minutes * 60 or now - started > lifetime_seconds:
            return True
        session[SEEN_KEY] = now
        return False


def install(server, users_path, audit_engine, rules: LoginRules, login_page) -> SignIn:
    """Hook the sign-in checks into the Flask app: the idle timeout before every request (before
    the login wall, so an expired session meets it), the throttle on POST /login (applied by
    `throttle`), and the throttled answer (429, the login page saying so)."""
    import flask
    import flask_login
    from flask_limiter import Limiter
    from flask_limiter.util import get_remote_address

    from warehouse import security_audit

    sign_in = SignIn(users_path, audit_engine, rules)
    limiter = Limiter(get_remote_address, app=server, storage_uri=rules.limiter_storage, default_limits=[])

    def name_key() -> str:
        return "user:" + (flask.request.form.get("username") or "")[:security_audit.NAME_CHARS]

    by_address = limiter.limit(rules.rate_per_address, methods=["POST"], scope="login-address")
    by_user = limiter.limit(rules.rate_per_user, key_func=name_key, methods=["POST"], scope="login-user")
    sign_in.throttle = lambda view: by_address(by_user(view))
    server.config["ENVMON_SIGN_IN"] = sign_in  # the pages' audited actions (an acknowledgement) record through it

    @server.errorhandler(429)
    def throttled(_error):
        lang = "en" if flask.request.args.get("lang") == "en" else "zh"
        log.warning("sign-in attempts throttled from %s", flask.request.remote_addr)
        return flask.Response(login_page(lang, "login_throttled"), status=429, mimetype="text/html")

    @server.before_request
    def end_idle_session():
        if flask.request.path in ("/healthz", "/login") or not flask_login.current_user.is_authenticated:
            return None
        if sign_in.expired(flask.session, server.config["PERMANENT_SESSION_LIFETIME"].total_seconds()):
            name = flask_login.current_user.get_id()
            flask_login.logout_user()
            flask.session.clear()
            sign_in.record("session_expired", name, flask.request.remote_addr)
        return None

    return sign_in
