"""Who hears about what, from one file (pipelines/reference/data/alert_routing.toml, or the file
ENVMON_ALERT_ROUTING names): the recipients of each bureau and of the operators, their channel,
language and quiet hours, the rules that pick a section's bureaus, and the episodes' and
deliveries' settings. Secrets are references ("env:NAME", "conn:ID"), resolved only when a
message is sent, and never logged."""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from functools import cache
from pathlib import Path

from pipelines.clock import BUREAU_TZ
from pipelines.reference import registry

DEFAULT_FILE = registry.DATA_DIR / "alert_routing.toml"
CHANNELS = ("email", "wecom", "dingtalk", "webhook")
SECRET_FIELDS = {"wecom": ("key",), "dingtalk": ("access_token", "secret"), "webhook": ("secret",)}
RULES = ("upstream", "downstream", "regional", "registry")


class RoutingError(ValueError):
    """The routing file says something envmon cannot follow: the message names the entry."""


class SecretMissing(LookupError):
    """A secret the routing names is not set where it says; the message names the place, not a value."""


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        try:
            start, end = (time.fromisoformat(part.strip()) for part in text.split("-"))
        except ValueError:
            raise RoutingError(f"quiet_hours {text!r} is not HH:MM-HH:MM") from None
        return cls(start, end)

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(BUREAU_TZ).time()
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end   # across midnight

    def end_after(self, moment: datetime) -> datetime:
        """The first instant at or after `moment` outside the quiet hours."""
        if not self.contains(moment):
            return moment
        local = moment.astimezone(BUREAU_TZ)
        end = datetime.combine(local.date(), self.end, BUREAU_TZ)
        if end <= local:
            end += timedelta(days=1)
        return end


@dataclass(frozen=True)
class Recipient:
    recipient_id: str          # stable: it keys the outbox (notice, recipient)
    channel: str
    target: str                # shown and stored: an address or a robot's name, never a secret
    language: str = "zh"
    bureau: str | None = None  # None for the operators
    quiet_hours: QuietHours | None = None
    receives: str = "all"      # all, escalations
    settings: dict = field(default_factory=dict, compare=False, hash=False)  # url, secret references

    def secret(self, name: str) -> str:
        return resolve_secret(self.settings[name], f"{self.recipient_id} {name}")

    def setting(self, name: str, default: str | None = None) -> str | None:
        value = self.settings.get(name, default)
        if isinstance(value, str) and value.startswith(("env:", "conn:")):
            return resolve_secret(value, f"{self.recipient_id} {name}")
        return value


@dataclass(frozen=True)
class Routing:
    recipients: tuple[Recipient, ...]
    operators: tuple[Recipient, ...]
    rules: dict
    resolve_after_compliant_days: int
    escalate_after: timedelta
    tries_per_attempt: int
    retry_wait_seconds: float
    max_attempts: int
    backoff: timedelta
    timeout_seconds: float
    operational: dict
    source: Path
    # a delivery not sent this long raises the operators' alert through the second path (health.py)
    backlog_alert_minutes: float = 60.0

    def of_bureau(self, bureau_id: str, escalation: bool = False) -> list[Recipient]:
        return [r for r in self.recipients if r.bureau == bureau_id
                and (r.receives == "all" or (escalation and r.receives == "escalations"))]

    def by_id(self, recipient_id: str) -> Recipient | None:
        for recipient in (*self.recipients, *self.operators):
            if recipient.recipient_id == recipient_id:
                return recipient
        return None


def resolve_secret(reference: str, what: str) -> str:
    """The value behind "env:NAME" or "conn:ID[#field]" (an Airflow connection's password by
    default, read through the Task SDK, which also finds AIRFLOW_CONN_ID in the environment)."""
    kind, _, name = reference.partition(":")
    if kind == "env":
        value = os.environ.get(name)
        if not value:
            raise SecretMissing(f"{what}: environment variable {name} is not set")
        return value
    if kind == "conn":
        conn_id, _, attribute = name.partition("#")
        try:
            from airflow.sdk import Connection

            connection = Connection.get(conn_id)
        except Exception as error:  # not found, no Airflow: the reason without any value
            raise SecretMissing(f"{what}: Airflow connection {conn_id} unavailable ({type(error).__name__})") from None
        attribute = attribute or "password"
        value = getattr(connection, attribute, None) if attribute in ("password", "login", "host", "schema") \
            else connection.extra_dejson.get(attribute)
        if not value:
            raise SecretMissing(f"{what}: Airflow connection {conn_id} has no {attribute}")
        return str(value)
    raise RoutingError(f"{what}: a secret is named as env:NAME or conn:ID, not given ({kind or 'bare value'})")


def _recipient(entry: dict, where: str, bureaus) -> Recipient | None:
    if not entry.get("enabled", True):
        return None
    channel = entry.get("channel")
    if channel not in CHANNELS:
        raise RoutingError(f"{where}: channel {channel!r} is not one of {', '.join(CHANNELS)}")
    bureau = entry.get("bureau")
    if bureau is not None and bureau not in bureaus.index:
        raise RoutingError(f"{where}: bureau {bureau!r} is not in bureaus.csv")
    for name in SECRET_FIELDS.get(channel, ()):
        value = entry.get(name)
        if not isinstance(value, str) or not value.startswith(("env:", "conn:")):
            raise RoutingError(f"{where}: {name} must name where the secret is (env:NAME or conn:ID)")
    if channel == "email":
        target = entry.get("address") or (bureaus.loc[bureau, "email"] if bureau else None)
        if not target:
            raise RoutingError(f"{where}: an e-mail recipient needs an address or a bureau")
    else:
        if not entry.get("url"):
            raise RoutingError(f"{where}: a {channel} recipient needs its url")
        target = entry.get("name") or f"{bureau or 'operators'} {channel}"
    language = entry.get("language", "zh")
    if language not in ("zh", "en"):
        raise RoutingError(f"{where}: language {language!r} is not zh or en")
    receives = entry.get("receives", "all")
    if receives not in ("all", "escalations"):
        raise RoutingError(f"{where}: receives {receives!r} is not all or escalations")
    quiet = QuietHours.parse(entry["quiet_hours"]) if entry.get("quiet_hours") else None
    owner = bureau or "operators"
    recipient_id = f"{owner}/{channel}/{entry.get('name') or target}"
    settings = {k: v for k, v in entry.items() if k in ("url", "key", "access_token", "secret", "rate_per_minute",
                                                          "max_bytes", "at_mobiles")}
    return Recipient(recipient_id, channel, target, language, bureau, quiet, receives, settings)


def load(path: Path | str | None = None) -> Routing:
    """The routing file (Settings.alert_routing, from ENVMON_ALERT_ROUTING), read again when it changes."""
    path = Path(path) if path else DEFAULT_FILE
    return _load(path.resolve(), path.stat().st_mtime_ns)


@cache
def _load(path: Path, _mtime: int) -> Routing:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise RoutingError(f"{path}: {error}") from None
    bureaus = registry.bureaus()
    recipients = [_recipient(e, f"{path.name} recipients[{i}]", bureaus) for i, e in enumerate(data.get("recipients", []))]
    operators = [_recipient(e, f"{path.name} operators[{i}]", bureaus) for i, e in enumerate(data.get("operators", []))]
    recipients = tuple(r for r in recipients if r)
    operators = tuple(r for r in operators if r)
    ids = [r.recipient_id for r in (*recipients, *operators)]
    if len(ids) != len(set(ids)):
        raise RoutingError(f"{path.name}: two recipients share an id ({sorted({i for i in ids if ids.count(i) > 1})}); "
                           "give them different names")
    rules = {"section": ["upstream", "downstream", "regional"], "national_boundary": ["registry"],
             "escalation": ["regional"], **data.get("rules", {})}
    for name, kinds in rules.items():
        unknown = [k for k in kinds if k not in RULES]
        if unknown:
            raise RoutingError(f"{path.name} rules.{name}: unknown {unknown}; known: {', '.join(RULES)}")
    episodes, delivery = data.get("episodes", {}), data.get("delivery", {})
    return Routing(
        recipients=recipients, operators=operators, rules=rules,
        resolve_after_compliant_days=int(episodes.get("resolve_after_compliant_days", 3)),
        escalate_after=timedelta(hours=float(episodes.get("escalate_after_hours", 24))),
        tries_per_attempt=int(delivery.get("tries_per_attempt", 3)),
        retry_wait_seconds=float(delivery.get("retry_wait_seconds", 2.0)),
        max_attempts=int(delivery.get("max_attempts", 6)),
        backoff=timedelta(minutes=float(delivery.get("backoff_minutes", 10))),
        timeout_seconds=float(delivery.get("timeout_seconds", 10)),
        operational=data.get("operational", {}), source=path,
        backlog_alert_minutes=float(delivery.get("backlog_alert_minutes", 60)))


# --- the rules: which bureaus hear about a section ---------------------------------------------

def _tokens(jurisdiction: str) -> set[str]:
    return {part for word in jurisdiction.split() for part in word.split(";") if part}


def _city_bureaus() -> dict[str, str]:
    """City (市) → bureau id, from bureaus.csv jurisdictions "province city"."""
    table = registry.bureaus()
    return {j.split()[-1]: b for b, j in zip(table["bureau_id"], table["jurisdiction"]) if len(j.split()) == 2}


def _provincial_departments() -> dict[str, str]:
    """Province → its department's bureau id: the bureaus whose jurisdiction is a province alone."""
    table = registry.bureaus()
    return {j: b for b, j in zip(table["bureau_id"], table["jurisdiction"]) if len(j.split()) == 1}


def jurisdiction_bureaus(jurisdiction: str) -> list[str]:
    cities = _city_bureaus()
    return sorted({cities[t] for t in _tokens(jurisdiction) if t in cities})


def regional_bureaus(section_id: str) -> list[str]:
    """The provincial departments of the section's province and of its two jurisdictions."""
    section = registry.sections().loc[section_id]
    departments = _provincial_departments()
    tokens = _tokens(section["upstream_jurisdiction"]) | _tokens(section["downstream_jurisdiction"]) | {section["province"]}
    return sorted({departments[t] for t in tokens if t in departments})


def section_bureaus(section_id: str, rules: list[str], national: list[str] | None = None) -> list[str]:
    section = registry.sections().loc[section_id]
    chosen: list[str] = []
    kinds = list(rules) + (list(national or []) if section["boundary_kind"] == "national" else [])
    for kind in kinds:
        if kind == "upstream":
            found = jurisdiction_bureaus(section["upstream_jurisdiction"])
        elif kind == "downstream":
            found = jurisdiction_bureaus(section["downstream_jurisdiction"])
        elif kind == "regional":
            found = regional_bureaus(section_id)
        else:
            found = [b for b in section["responsible_bureaus"].split(";") if b]
        chosen += [b for b in found if b not in chosen]
    return chosen


def section_recipients(routing: Routing, section_id: str, escalation: bool = False) -> list[Recipient]:
    if escalation:
        bureaus = section_bureaus(section_id, routing.rules["escalation"])
    else:
        bureaus = section_bureaus(section_id, routing.rules["section"], routing.rules["national_boundary"])
    return [r for b in bureaus for r in routing.of_bureau(b, escalation)]
