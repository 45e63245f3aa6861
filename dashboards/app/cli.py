"""`envmon dashboard` and `envmon users add|disable|enable|list|audit` (wired into pipelines/cli/commands.py).

Every change of a user is recorded in the warehouse's security audit log (warehouse/security_audit.py)
in the same step: the row is written first, in a transaction that commits only once the users file
is written, so a change is never left unrecorded (a warehouse that cannot take the row refuses the
change, with one line). The log is written through ENVMON_DASHBOARD_AUDIT_URL, else the warehouse URL.
"""
from __future__ import annotations

import getpass
import sys

COMMANDS = ("dashboard", "users")


def add_commands(commands) -> None:
    dashboard = commands.add_parser("dashboard", help="serve the bureaus' dashboard app (login required)")
    dashboard.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    dashboard.add_argument("--port", type=int, default=8050, help="port (default 8050)")
    users = commands.add_parser("users", help="manage the dashboard's users (ENVMON_DASHBOARD_USERS)")
    actions = users.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add a user, or reset a user's password, role and bureau")
    add.add_argument("name")
    add.add_argument("--role", choices=("regional", "city"), required=True)
    add.add_argument("--bureau", required=True,
                     help="city users: nanning, beihai, fangchenggang, qinzhou, yulin or chongzuo; "
                          "regional users: any bureau of bureaus.csv (e.g. gx-dept)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.add_argument("--totp", action="store_true",
                     help="a (new) TOTP second factor: prints its otpauth:// URI once, for the user's authenticator app")
    for name in ("disable", "enable"):
        action = actions.add_parser(name, help=f"{name} a user (a disabled user's sessions end at once)")
        action.add_argument("name")
    actions.add_parser("list", help="list the users (never their passwords)")
    audit = actions.add_parser("audit", help="the security audit log: sign-ins, failures, lockouts, user changes, "
                                             "acknowledgements, keys")
    audit.add_argument("--since", type=_day, help="from this day (YYYY-MM-DD, the bureaus' calendar); default: all")
    audit.add_argument("--json", action="store_true", help="one JSON object per event")


def _day(text: str):
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        import argparse

        raise argparse.ArgumentTypeError(f"{text!r} is not a day (YYYY-MM-DD)") from None


def run(args) -> int:
    from dashboards.app import users

    if args.command == "dashboard":
        from dashboards.app import serve

        print(f"envmon dashboard on http://{args.host}:{args.port}/ (users: {users.users_file()})", file=sys.stderr)
        serve(args.host, args.port)
        return 0
    path = users.users_file()
    try:
        if args.action == "add":
            password = sys.stdin.readline().rstrip("\n") if args.password_stdin else _ask_password()
            users.check_new_user(args.name, password, args.role, args.bureau)  # bad input: one line, nothing written
            event = "password_reset" if users.exists(path, args.name) else "user_added"
            detail = f"{args.role}, {args.bureau}" + (", new second factor" if args.totp else "")
            with _audited(event, args.name, detail):
                user = users.add_user(path, args.name, password, args.role, args.bureau, totp=args.totp)
            print(f"{user.name}: {user.role}, {user.bureau} ({path})")
            if args.totp:
                print("the second factor, for the user's authenticator app (shown this once):")
                print(users.totp_uri(path, user.name))
        elif args.action in ("disable", "enable"):
            if not users.exists(path, args.name):
                raise users.UserError(f"no user {args.name!r} in {path}")
            with _audited(f"user_{args.action}d", args.name, None):
                user = users.set_disabled(path, args.name, args.action == "disable")
            print(f"{user.name}: {'disabled' if user.disabled else 'enabled'}")
        elif args.action == "audit":
            return _print_audit(args.since, args.json)
        else:
            for user in users.list_users(path):
                print(f"{user.name}\t{user.role}\t{user.bureau}\t{'disabled' if user.disabled else 'enabled'}")
    except users.UserError as error:
        print(f"envmon: {error}", file=sys.stderr)
        return 2
    return 0


def _audit_engine():
    import os

    from pipelines.config import load_settings
    from warehouse import db, security_audit

    url = os.environ.get("ENVMON_DASHBOARD_AUDIT_URL") or load_settings().warehouse_url
    engine = db.engine_for(url)
    security_audit.ensure_table(engine)
    return engine


class _audited:
    """The audit row of a change, committed only if the change is made (and the change refused
    where the row cannot be written)."""

    def __init__(self, event: str, name: str, detail: str | None):
        self.event, self.name, self.detail = event, name, detail

    def __enter__(self):
        from warehouse import security_audit

        self.engine = _audit_engine()
        self.transaction = self.engine.begin()
        connection = self.transaction.__enter__()
        security_audit.record(connection, self.event, self.name, security_audit.cli_address(), self.detail)
        return self

    def __exit__(self, *exc_info):
        return self.transaction.__exit__(*exc_info)  # commits, or rolls back on the change's error


def _print_audit(since, as_json: bool) -> int:
    import json
    from datetime import datetime, time

    from pipelines import clock
    from warehouse import security_audit

    start = datetime.combine(since, time(0), clock.BUREAU_TZ) if since else None
    events = security_audit.events(_audit_engine(), start)
    for row in events.to_dict("records"):
        at = row["occurred_at"].astimezone(clock.BUREAU_TZ).isoformat(timespec="seconds")
        if as_json:
            print(json.dumps({"event_id": int(row["event_id"]), "occurred_at": at, "event": row["event"],
                              "user_name": row["user_name"], "address": row["address"], "detail": row["detail"]},
                             ensure_ascii=False))
        else:
            print("\t".join([at, row["event"], row["user_name"] or "—", row["address"] or "—", row["detail"] or "—"]))
    if not as_json:
        print(f"{len(events)} events" + (f" since {since}" if since else ""), file=sys.stderr)
    return 0


def _ask_password() -> str:
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        from dashboards.app.users import UserError

        raise UserError("the two passwords differ")
    return first
