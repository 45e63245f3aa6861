"""Sign-in as an attacker tries it (issue 24), against `envmon dashboard` in processes of their own
on a warehouse in PostgreSQL, over HTTP with httpx: a brute force throttled (429), locked out and
audited, the lockout holding in a second process of the app; a wrong name answered byte for byte
as a wrong password; an idle session and a disabled user's session refused; the TOTP second
factor; the password policy of `envmon users add`; `envmon users audit` and the regional user's
view of the audit log. Each attack comes from an address of its own (127.0.0.x), so the throttle's
per-address counts of one test never reach another's. The settings are small so the test is short:
5 failures lock a name for 20 s, 10 attempts at a name in 5 s and 20 from an address in 30 s, idle after 4 s."""
from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from dashboards.app import users
from pipelines import clock
from pipelines.config import load_settings
from tests import dashboard_app_fixture as app_fixture
from tests.conftest import fresh_postgres_schema
from warehouse import db, schema, security_audit

pytestmark = pytest.mark.postgres

PASSWORD = "correct horse battery"
LOCKOUT_SECONDS = 20
IDLE_SECONDS = 4
RULES = {"ENVMON_LOGIN_MAX_FAILURES": "5", "ENVMON_LOGIN_LOCKOUT_MINUTES": str(LOCKOUT_SECONDS / 60),
         "ENVMON_LOGIN_RATE_PER_USER": "10 per 5 seconds", "ENVMON_LOGIN_RATE_PER_ADDRESS": "20 per 30 seconds",
         "ENVMON_DASHBOARD_IDLE_MINUTES": str(IDLE_SECONDS / 60)}
ENVMON = str(Path(sys.executable).with_name("envmon"))


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    """Two processes of `envmon dashboard` on one warehouse (as two workers behind a proxy)."""
    from pipelines import nightly

    home = tmp_path_factory.mktemp("signin")
    users_path = home / "users.json"
    for name, role, bureau in (("region", "regional", "gx-dept"), ("yulin", "city", "yulin"),
                               ("qinzhou-duty", "city", "qinzhou"), ("idle-region", "regional", "gx-dept"),
                               ("nanning-duty", "city", "nanning")):
        users.add_user(users_path, name, PASSWORD, role, bureau)
    users.add_user(users_path, "region-2fa", PASSWORD, "regional", "gx-dept", totp=True)
    with ExitStack() as stack, pytest.MonkeyPatch.context() as patch:
        url = stack.enter_context(fresh_postgres_schema())
        nightly.prepare_warehouse(load_settings({"ENVMON_HOME": str(home), "ENVMON_WAREHOUSE_URL": url}))
        for name, value in RULES.items():
            patch.setenv(name, value)
        first = stack.enter_context(app_fixture.running_dashboard(home, url, users_path, "signin-test"))
        second = stack.enter_context(app_fixture.running_dashboard(home, url, users_path, "signin-test"))
        patch.undo()
        engine = db.engine_for(url)
        yield {"base": first, "second": second, "url": url, "home": home, "users": users_path, "engine": engine}
        engine.dispose()


def client(base: str, address: str) -> httpx.Client:
    """A client whose requests come from `address` (any 127.0.0.x reaches the app on 127.0.0.1)."""
    return httpx.Client(base_url=base, transport=httpx.HTTPTransport(local_address=address), timeout=30)


def login(http: httpx.Client, name: str, password: str, code: str | None = None) -> httpx.Response:
    """The login form filled in as a browser does: its hidden fields (a CSRF token) sent back."""
    page = http.get("/login").text
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    form.update({"username": name, "password": password, **({"code": code} if code is not None else {})})
    return http.post("/login", data=form)


def _masked(body: str) -> str:
    """The page less its per-request CSRF token (a random value, not an answer)."""
    return re.sub(r'(<input type="hidden" name="[^"]+" value=")[^"]*"', r'\1…"', body)


def _answer(response: httpx.Response) -> tuple:
    varying = {"date", "server-timing", "set-cookie"}  # the time, the time taken, a session's token
    return (response.status_code, _masked(response.text),
            tuple(sorted((k, v) for k, v in response.headers.items() if k.lower() not in varying)))


def audit(dashboard, name: str) -> list[tuple[str, str | None, str | None]]:
    rows = security_audit.events(dashboard["engine"])
    return [(r["event"], r["address"], r["detail"]) for r in rows.to_dict("records") if r["user_name"] == name]


def test_a_brute_force_is_throttled_locked_out_and_audited_and_the_lockout_holds_in_every_process(dashboard):
    attacker = client(dashboard["base"], "127.0.0.11")
    answers = [login(attacker, "region", f"guess number {n:02d}").status_code for n in range(30)]
    burst_ended = time.monotonic()
    assert answers[:5] == [401] * 5  # five failures: the name is locked from here
    assert 302 not in answers and answers.count(429) >= 10, answers  # past ten a name in 5 s: throttled
    wrong_password_page = _answer(login(client(dashboard["base"], "127.0.0.12"), "nanning-duty", "not the password"))

    time.sleep(max(0.0, burst_ended + 5.5 - time.monotonic()))  # the throttle's window over; the lockout not
    owner = client(dashboard["base"], "127.0.0.13")
    locked = login(owner, "region", PASSWORD)
    assert locked.status_code == 401 and "/login" in str(locked.url)
    assert _answer(locked) == wrong_password_page  # locked reads as a wrong password: nothing told
    # the other process of the app reads the same lockout (it is kept in the warehouse)
    assert login(client(dashboard["second"], "127.0.0.14"), "region", PASSWORD).status_code == 401

    lockout_at = next(r["occurred_at"] for r in security_audit.events(dashboard["engine"]).to_dict("records")
                      if r["event"] == "lockout" and r["user_name"] == "region")
    wait = (lockout_at + timedelta(seconds=LOCKOUT_SECONDS) - clock.now()).total_seconds()  # the app's clock
    time.sleep(max(0.0, wait) + 1.0)
    assert login(owner, "region", PASSWORD).status_code == 302  # the lockout over: the right password signs in

    events = audit(dashboard, "region")
    assert events[:5] == [("sign_in_failed", "127.0.0.11", "wrong password")] * 5
    assert events[5][0] == "lockout" and events[5][1] == "127.0.0.11" and events[5][2].startswith("5 failed sign-ins")
    refused = [e for e in events if e[2] == "locked"]
    assert ("sign_in_failed", "127.0.0.13", "locked") in refused and ("sign_in_failed", "127.0.0.14", "locked") in refused
    assert events[-1] == ("sign_in", "127.0.0.13", None)
    assert len([e for e in events if e[0] == "sign_in_failed"]) == 30 - answers.count(429) + 2  # a 429 checks nothing


def test_the_address_throttle_holds_whatever_the_names(dashboard):
    sprayer = client(dashboard["base"], "127.0.0.21")
    answers = [login(sprayer, f"spray-{n}", "Summer2026!!").status_code for n in range(25)]
    assert answers[:20] == [401] * 20 and answers[20:] == [429] * 5, answers
    throttled = login(sprayer, "anyone", "anything at all")
    assert throttled.status_code == 429 and "登录尝试过于频繁" in throttled.text


def test_a_wrong_name_is_answered_as_a_wrong_password_byte_for_byte_and_as_slowly(dashboard):
    wrong_name, wrong_password, name_times, password_times = [], [], [], []
    for n in range(4):  # fewer than the lockout's five
        for name, answers, times in (("nobody-" + str(n), wrong_name, name_times), ("yulin", wrong_password, password_times)):
            http = client(dashboard["base"], "127.0.0.31")
            http.get("/login")
            started = time.perf_counter()
            answers.append(_answer(login(http, name, f"not it, try {n}")))
            times.append(time.perf_counter() - started)
    assert wrong_name[0][0] == 401 and wrong_name[0] == wrong_password[0]
    assert len({*wrong_name, *wrong_password}) == 1  # status, headers and body: one answer
    # a wrong name costs a password hash too (users.py's dummy): no faster than a wrong password
    slow, fast = max(statistics.median(name_times), statistics.median(password_times)), \
        min(statistics.median(name_times), statistics.median(password_times))
    assert slow < 3 * fast, (name_times, password_times)
    assert [e[2] for e in audit(dashboard, "nobody-0")] == ["unknown user"]


def test_an_idle_session_ends_and_a_used_one_does_not(dashboard):
    http = client(dashboard["base"], "127.0.0.41")
    assert login(http, "idle-region", PASSWORD).status_code == 302
    for _ in range(3):  # requests closer than the idle minutes keep it, past its length in all
        time.sleep(IDLE_SECONDS / 2.5)
        assert http.get("/").status_code == 200
    time.sleep(IDLE_SECONDS + 1)
    expired = http.get("/")
    assert expired.status_code == 302 and expired.headers["location"].startswith("/login")
    assert http.post("/_dash-update-component", json={}).status_code in (400, 401)  # no session: refused
    assert ("session_expired", "127.0.0.41") in [e[:2] for e in audit(dashboard, "idle-region")]


def test_a_session_ends_when_idle_and_after_its_whole_length_however_busy(set_clock):
    """SignIn.expired on the clock: idle longer than the idle minutes, or signed in longer than the
    session's lifetime (8 h), even with a request every minute."""
    from dashboards.app.signin import LoginRules, SignIn

    sign_in, session = SignIn(None, None, LoginRules(idle_minutes=30)), {}
    signed_in = datetime(2027, 1, 4, 9, 0, tzinfo=timezone.utc)
    set_clock(signed_in)
    sign_in.started(session)
    for minutes in (29, 58, 87):  # busy: each request within the idle minutes of the one before
        set_clock(signed_in + timedelta(minutes=minutes))
        assert not sign_in.expired(session, 8 * 3600)
    set_clock(signed_in + timedelta(minutes=87 + 31))
    assert sign_in.expired(session, 8 * 3600)  # idle 31 min
    session = {}
    set_clock(signed_in)
    sign_in.started(session)
    for minutes in range(20, 8 * 60, 20):
        set_clock(signed_in + timedelta(minutes=minutes))
        assert not sign_in.expired(session, 8 * 3600)
    set_clock(signed_in + timedelta(hours=8, minutes=1))
    assert sign_in.expired(session, 8 * 3600)  # busy all day: 8 h after the sign-in, over
    assert sign_in.expired({}, 8 * 3600)  # a session that never signed in here


def test_a_disabled_users_session_is_refused_at_its_next_request(dashboard):
    http = client(dashboard["base"], "127.0.0.51")
    assert login(http, "qinzhou-duty", PASSWORD).status_code == 302
    assert http.get("/").status_code == 200
    environment = {**_cli_environment(dashboard)}
    result = subprocess.run([ENVMON, "users", "disable", "qinzhou-duty"], env=environment, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    refused = http.get("/")
    assert refused.status_code == 302 and refused.headers["location"].startswith("/login")
    assert login(http, "qinzhou-duty", PASSWORD).status_code == 401
    events = audit(dashboard, "qinzhou-duty")
    assert [e[0] for e in events] == ["sign_in", "user_disabled", "sign_in_failed"]
    assert events[1][1].startswith("cli:") and events[2][2] == "disabled"


def test_a_second_factor_is_asked_of_its_user(dashboard):
    import pyotp

    http = client(dashboard["base"], "127.0.0.61")
    totp = pyotp.parse_uri(users.totp_uri(dashboard["users"], "region-2fa"))
    assert login(http, "region-2fa", PASSWORD).status_code == 401  # the right password alone
    wrong = f"{(int(totp.now()) + 500000) % 1000000:06d}"
    assert login(http, "region-2fa", PASSWORD, wrong).status_code == 401
    assert login(http, "region-2fa", PASSWORD, totp.now()).status_code == 302
    assert http.get("/").status_code == 200
    assert [(e[0], e[2]) for e in audit(dashboard, "region-2fa")] == [
        ("sign_in_failed", "code missing"), ("sign_in_failed", "wrong code"), ("sign_in", None)]
    page = client(dashboard["base"], "127.0.0.62").get("/login").text
    assert 'name="code"' in page and "动态验证码" in page


def _cli_environment(dashboard) -> dict:
    import os

    return {**os.environ, "ENVMON_HOME": str(dashboard["home"]), "ENVMON_WAREHOUSE_URL": dashboard["url"],
            "ENVMON_DASHBOARD_USERS": str(dashboard["users"])}


@pytest.fixture
def envmon(dashboard, monkeypatch, capsys):
    """`envmon ARGUMENTS` in this process (seconds less than a process each), on the test's
    warehouse and users: (exit status, stdout, stderr)."""
    import io

    from pipelines.cli import commands

    for name, value in _cli_environment(dashboard).items():
        if name.startswith("ENVMON_"):
            monkeypatch.setenv(name, value)

    def run(*arguments, stdin: str = ""):
        capsys.readouterr()
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        status = commands.main(list(arguments))
        captured = capsys.readouterr()
        return status, captured.out, captured.err
    return run


@pytest.mark.parametrize("name, password, why", [
    ("beihai-duty", "short one", "the password needs at least 10 characters"),
    ("beihai-duty", "beihai-duty", "the password may not be the user name nor contain it"),
    ("beihai-duty", "my Beihai-Duty password", "the password may not be the user name nor contain it"),
    ("beihai-duty", "1qaz2wsx3edc", "the password is a common one that breaches made public"),
    ("beihai-duty", "Password1234", "the password is a common one that breaches made public"),
])
def test_the_password_policy_refuses_with_one_clear_line(dashboard, envmon, name, password, why):
    status, out, err = envmon("users", "add", name, "--role", "city", "--bureau", "beihai", "--password-stdin",
                              stdin=password + "\n")
    assert status == 2 and out == ""
    assert err.splitlines() == [err.strip()] and err.startswith(f"envmon: {why}")
    assert not users.exists(dashboard["users"], name) and audit(dashboard, name) == []


def test_envmon_users_audit_lists_the_changes_and_the_sign_ins(dashboard, envmon):
    assert envmon("users", "add", "beihai-audit", "--role", "city", "--bureau", "beihai",
                  "--password-stdin", stdin="a long enough secret\n")[0] == 0
    status, out, _ = envmon("users", "add", "beihai-audit", "--role", "city", "--bureau", "beihai", "--totp",
                            "--password-stdin", stdin="another long secret\n")
    assert status == 0 and out.count("otpauth://totp/envmon:beihai-audit?secret=") == 1
    for action in ("disable", "enable"):
        assert envmon("users", action, "beihai-audit")[0] == 0
    status, listed, err = envmon("users", "audit", "--json")
    assert status == 0, err
    events = [json.loads(line) for line in listed.splitlines()]
    assert set(events[0]) == {"event_id", "occurred_at", "event", "user_name", "address", "detail"}
    mine = [(e["event"], e["detail"]) for e in events if e["user_name"] == "beihai-audit"]
    assert mine == [("user_added", "city, beihai"), ("password_reset", "city, beihai, new second factor"),
                    ("user_disabled", None), ("user_enabled", None)]
    assert all(e["address"].startswith("cli:") for e in events if e["user_name"] == "beihai-audit")
    assert "another long secret" not in listed and "a long enough secret" not in listed
    text = envmon("users", "audit")[1]
    assert re.search(r"^\S+\+08:00\tuser_enabled\tbeihai-audit\tcli:\S+\t—$", text, re.M), text
    assert envmon("users", "audit", "--since", (clock.today() + timedelta(days=2)).isoformat())[:2] == (0, "")
    with pytest.raises(SystemExit):  # argparse's usage error: one line naming the option
        envmon("users", "audit", "--since", "2026-13-01")


def _security_table(http: httpx.Client) -> dict:
    """The Data quality page's audit table, as the page's callback is asked for it (the CSRF header
    dash-renderer sends, from its cookie, where the app sets one)."""
    outputs = [{"id": "security-audit", "property": "data"}, {"id": "security-audit", "property": "columns"},
               {"id": "security-audit-downloads", "property": "children"}]
    body = {"output": "..security-audit.data...security-audit.columns...security-audit-downloads.children..",
            "outputs": outputs, "inputs": [{"id": "quality-range", "property": "start_date", "value": None}],
            "state": [{"id": "url", "property": "search", "value": ""}], "changedPropIds": []}
    token = http.cookies.get("_csrf_token")
    answer = http.post("/_dash-update-component", json=body, headers={"X-CSRFToken": token} if token else {})
    assert answer.status_code == 200, answer.text[:300]
    return answer.json()["response"]["security-audit"]


def test_the_regional_user_reads_the_audit_log_in_the_app_and_a_city_user_does_not(dashboard):
    regional = client(dashboard["base"], "127.0.0.71")
    assert login(regional, "nobody-at-all", PASSWORD).status_code == 401
    assert login(regional, "region", PASSWORD).status_code == 302
    regional.get("/quality")
    rows = _security_table(regional)["data"]
    assert {"时间", "事件", "用户", "地址", "详情"} <= set(rows[0])
    assert rows[0]["事件"] == "登录成功" and rows[0]["用户"] == "region" and rows[0]["地址"] == "127.0.0.71"
    assert {"事件": "登录失败", "用户": "nobody-at-all", "地址": "127.0.0.71", "详情": "无此用户"}.items() <= rows[1].items()
    download = regional.get("/download/quality/security.csv")
    assert download.status_code == 200 and "nobody-at-all" in download.content.decode("utf-8-sig")

    city = client(dashboard["base"], "127.0.0.72")
    assert login(city, "yulin", PASSWORD).status_code == 302
    city.get("/quality")
    assert _security_table(city)["data"] == []  # a crafted request for the regional table: nothing
    assert city.get("/download/quality/security.csv").status_code == 404


def test_the_audit_store_counts_failures_into_a_lockout(warehouse_url):
    """warehouse/security_audit.py on SQLite and PostgreSQL: failures in the window since the last
    sign-in or lockout; attempts refused while locked do not count; the lockout's end."""
    engine = db.engine_for(warehouse_url)
    schema.security_audit.create(engine)
    at = datetime(2027, 1, 1, 4, 0, tzinfo=timezone.utc)
    minute = timedelta(minutes=1)
    with engine.begin() as connection:
        for n, (event, detail) in enumerate([("sign_in_failed", "wrong password"), ("sign_in", None),
                                             ("sign_in_failed", "wrong password"), ("sign_in_failed", "wrong code"),
                                             ("sign_in_failed", security_audit.LOCKED)]):
            security_audit.record(connection, event, "yulin", "10.0.0.9", detail, at + n * minute)
        security_audit.record(connection, "sign_in_failed", "beihai", "10.0.0.9", "wrong password", at)
        now = at + 5 * minute
        assert security_audit.failures_in_window(connection, "yulin", 15, now) == 2  # after the sign-in, not 'locked'
        assert security_audit.failures_in_window(connection, "yulin", 2.5, now) == 1  # the window's
        assert security_audit.locked_until(connection, "yulin", 15, now) is None
        security_audit.record(connection, "lockout", "yulin", "10.0.0.9", "2 failed sign-ins", now)
        assert security_audit.locked_until(connection, "yulin", 15, now + minute) == now + 15 * minute
        assert security_audit.locked_until(connection, "yulin", 15, now + 16 * minute) is None
        assert security_audit.failures_in_window(connection, "yulin", 15, now + minute) == 0  # the lockout restarts it
    with pytest.raises(ValueError, match="unknown security event"):
        security_audit.record(engine, "sudo", "yulin", None)
    frame = security_audit.events(engine, at + 4 * minute)
    assert list(frame["event"]) == ["sign_in_failed", "lockout"] and frame["detail"].iloc[0] == "locked"
    engine.dispose()
