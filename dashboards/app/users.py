"""The dashboard's users: a JSON file (ENVMON_DASHBOARD_USERS, default $ENVMON_HOME/dashboard-users.json)
of names, password hashes (werkzeug's scrypt), roles and bureaus, and for a user with a second
factor the TOTP secret (RFC 6238, pyotp), managed by `envmon users add|disable|enable|list|audit`.
No password is ever stored or printed in clear; the file is readable by its owner only.

A password is refused when it is shorter than MIN_PASSWORD_LENGTH, is the user's name or contains
it, or is one of the common passwords breaches made public
(pipelines/reference/data/common_passwords.txt, compared lowercased).

Roles: `regional` sees every section, point and station; `city` sees its own city's, and the
cross-boundary sections its bureau shares (the registry's `responsible_bureaus`).
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from werkzeug.security import check_password_hash, generate_password_hash

from pipelines import clock

ROLES = ("regional", "city")
CITY_BUREAUS = ("nanning", "beihai", "fangchenggang", "qinzhou", "yulin", "chongzuo")
MIN_PASSWORD_LENGTH = 10
COMMON_PASSWORDS = "common_passwords.txt"  # in pipelines/reference/data, with its source
NAME_IN_PASSWORD_MIN = 4  # a name this long or longer may not stand anywhere in the password
TOTP_ISSUER = "envmon"
# checked against when a name is unknown, so that a wrong name costs as long as a wrong password
_UNKNOWN_USER_HASH = generate_password_hash("envmon-no-such-user")


class UserError(ValueError):
    """A user command that cannot be carried out (unknown bureau, weak password, no such user)."""


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    from pipelines.reference import registry

    lines = (registry.DATA_DIR / COMMON_PASSWORDS).read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def password_problem(name: str, password: str) -> str | None:
    """Why the password may not be the user's, in one line; None when it may."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"the password needs at least {MIN_PASSWORD_LENGTH} characters"
    lowered, folded_name = password.lower(), name.lower()
    if lowered == folded_name or (len(folded_name) >= NAME_IN_PASSWORD_MIN and folded_name in lowered):
        return "the password may not be the user name nor contain it"
    if lowered in common_passwords():
        return "the password is a common one that breaches made public (common_passwords.txt): choose another"
    return None


@dataclass(frozen=True)
class User:
    name: str
    role: str
    bureau: str
    disabled: bool = False

    @property
    def is_regional(self) -> bool:
        return self.role == "regional"


def users_file(environ=None) -> Path:
    env = os.environ if environ is None else environ
    if env.get("ENVMON_DASHBOARD_USERS"):
        return Path(env["ENVMON_DASHBOARD_USERS"])
    home = Path(env.get("ENVMON_HOME") or Path.cwd() / ".envmon")
    return home / "dashboard-users.json"


def _read(path: Path) -> dict:
    if not path.exists():
        return {"users": {}}
    return json.loads(path.read_text(encoding="utf-8"))


def _write(path: Path, content: dict) -> None:
    """Replace the file at once (a reader never sees half of it), readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".users-")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(content, out, ensure_ascii=False, indent=2, sort_keys=True)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def add_user(path: Path, name: str, password: str, role: str, bureau: str, totp: bool = False) -> User:
    """Add a user, or replace the password, role and bureau of one that exists (and enable it).
    totp: a new second-factor secret (totp_uri tells it once); without it, a user's secret stays."""
    check_new_user(name, password, role, bureau)
    content = _read(path)
    secret = content["users"].get(name, {}).get("totp_secret")
    if totp:
        import pyotp

        secret = pyotp.random_base32()
    content["users"][name] = {"password_hash": generate_password_hash(password), "role": role, "bureau": bureau,
                              "disabled": False, "changed_at": clock.now().isoformat(timespec="seconds"),
                              **({"totp_secret": secret} if secret else {})}
    _write(path, content)
    return User(name, role, bureau)


def check_new_user(name: str, password: str, role: str, bureau: str) -> None:
    """Raise UserError, with one line, if this user may not be added with this password."""
    from pipelines.reference import registry

    if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise UserError(f"user name {name!r}: letters, digits, '-', '_' and '.' only")
    if role not in ROLES:
        raise UserError(f"role {role!r}: one of {', '.join(ROLES)}")
    if role == "city" and bureau not in CITY_BUREAUS:
        raise UserError(f"a city user's bureau is one of {', '.join(CITY_BUREAUS)}, not {bureau!r}")
    if role == "regional" and bureau not in registry.bureaus().index:
        raise UserError(f"bureau {bureau!r} is not in pipelines/reference/data/bureaus.csv")
    problem = password_problem(name, password)
    if problem:
        raise UserError(problem)


def exists(path: Path, name: str) -> bool:
    return name in _read(path)["users"]


def totp_uri(path: Path, name: str) -> str | None:
    """The otpauth:// URI of the user's second factor (for an authenticator app), if the user has one."""
    import pyotp

    secret = _read(path)["users"].get(name, {}).get("totp_secret")
    return pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=TOTP_ISSUER) if secret else None


def set_disabled(path: Path, name: str, disabled: bool = True) -> User:
    content = _read(path)
    if name not in content["users"]:
        raise UserError(f"no user {name!r} in {path}")
    entry = content["users"][name]
    entry["disabled"] = disabled
    entry["changed_at"] = clock.now().isoformat(timespec="seconds")
    _write(path, content)
    return User(name, entry["role"], entry["bureau"], disabled)


def list_users(path: Path) -> list[User]:
    return [User(name, e["role"], e["bureau"], bool(e.get("disabled"))) for name, e in sorted(_read(path)["users"].items())]


def get_user(path: Path, name: str) -> User | None:
    entry = _read(path)["users"].get(name)
    if entry is None or entry.get("disabled"):
        return None
    return User(name, entry["role"], entry["bureau"])


def authenticate(path: Path, name: str, password: str, code: str | None = None) -> User | None:
    """The user whose name and password (and code, for a user with a second factor) these are, if
    enabled; None otherwise."""
    return check(path, name, password, code)[0]


def check(path: Path, name: str, password: str, code: str | None = None) -> tuple[User | None, str]:
    """(the user, "ok"), or (None, why not) for the audit only: unknown user, wrong password, code
    missing, wrong code, disabled. A password is hashed whatever the name, so every answer costs
    the same time."""
    entry = _read(path)["users"].get(name or "")
    if entry is None:
        check_password_hash(_UNKNOWN_USER_HASH, password or "")
        return None, "unknown user"
    if not check_password_hash(entry["password_hash"], password or ""):
        return None, "wrong password"
    if entry.get("totp_secret"):
        import pyotp

        typed = "".join((code or "").split())
        if not typed:
            return None, "code missing"
        # the real clock, as the user's authenticator app reads it (never ENVMON_NOW); a step either side: drift
        if not pyotp.TOTP(entry["totp_secret"]).verify(typed, valid_window=1):
            return None, "wrong code"
    if entry.get("disabled"):
        return None, "disabled"
    return User(name, entry["role"], entry["bureau"]), "ok"


def as_dict(user: User) -> dict:
    return asdict(user)
