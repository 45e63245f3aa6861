"""`envmon dashboard` and `envmon users add|disable|enable|list` (wired into pipelines/cli/commands.py)."""
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
    for name in ("disable", "enable"):
        action = actions.add_parser(name, help=f"{name} a user (a disabled user's sessions end at once)")
        action.add_argument("name")
    actions.add_parser("list", help="list the users (never their passwords)")


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
            user = users.add_user(path, args.name, password, args.role, args.bureau)
            print(f"{user.name}: {user.role}, {user.bureau} ({path})")
        elif args.action in ("disable", "enable"):
            user = users.set_disabled(path, args.name, args.action == "disable")
            print(f"{user.name}: {'disabled' if user.disabled else 'enabled'}")
        else:
            for user in users.list_users(path):
                print(f"{user.name}\t{user.role}\t{user.bureau}\t{'disabled' if user.disabled else 'enabled'}")
    except users.UserError as error:
        print(f"envmon: {error}", file=sys.stderr)
        return 2
    return 0


def _ask_password() -> str:
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        from dashboards.app.users import UserError

        raise UserError("the two passwords differ")
    return first
