"""The dashboard's users: a JSON file (ENVMON_DASHBOARD_USERS, default $ENVMON_HOME/dashboard-users.json)
of names, password hashes (werkzeug's scrypt), roles and bureaus, managed by `envmon users
add|disable|enable|list`. No password is ever stored or printed in clear.

Roles: `regional` sees every section, point and station; `city` sees its own city's, and the
cross-boundary sections its bureau shares (the registry's `responsible_bureaus`).
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from werkzeug.security import check_password_hash, generate_password_hash

from pipelines import clock

ROLES = ("regional", "city")
CITY_BUREAUS = ("nanning", "beihai", "fangchenggang", "qinzhou", "yulin", "chongzuo")
MIN_PASSWORD_LENGTH = 10
# checked against when a name is unknown, so that a wrong name costs as long as a wrong password
_UNKNOWN_USER_HASH = generate_password_hash("envmon-no-such-user")


class UserError(ValueError):
    """A user command that cannot be carried out (unknown bureau, short password, no such user)."""


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


def add_user(path: Path, name: str, password: str, role: str, bureau: str) -> User:
    """Add a user, or replace the password, role and bureau of one that exists (and enable it)."""
    from pipelines.reference import registry

    if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise UserError(f"user name {name!r}: letters, digits, '-', '_' and '.' only")
    if role not in ROLES:
        raise UserError(f"role {role!r}: one of {', '.join(ROLES)}")
    if role == "city" and bureau not in CITY_BUREAUS:
        raise UserError(f"a city user's bureau is one of {', '.join(CITY_BUREAUS)}, not {bureau!r}")
    if role == "regional" and bureau not in registry.bureaus().index:
        raise UserError(f"bureau {bureau!r} is not in pipelines/reference/data/bureaus.csv")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    content = _read(path)
    content["users"][name] = {"password_hash": generate_password_hash(password), "role": role, "bureau": bureau,
                              "disabled": False, "changed_at": clock.now().isoformat(timespec="seconds")}
    _write(path, content)
    return User(name, role, bureau)


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


def authenticate(path: Path, name: str, password: str) -> User | None:
    """The user whose name and password these are, if enabled; None otherwise."""
    entry = _read(path)["users"].get(name or "")
    if entry is None:
        check_password_hash(_UNKNOWN_USER_HASH, password or "")
        return None
    if not check_password_hash(entry["password_hash"], password or "") or entry.get("disabled"):
        return None
    return User(name, entry["role"], entry["bureau"])


def as_dict(user: User) -> dict:
    return asdict(user)
