"""Settings read from the environment, with defaults that need no server.

ENVMON_HOME           where the embedded database, staged batches, dashboards, outbox and logs go
                      (default: ./.envmon under the current directory)
ENVMON_WAREHOUSE_URL  SQLAlchemy URL of the warehouse (default: SQLite file in ENVMON_HOME)
ENVMON_DASHBOARD_WAREHOUSE_URL
                      the URL the dashboard reads the warehouse through: in production the read-only
                      role envmon_dashboard (deploy/postgres-init); default: ENVMON_WAREHOUSE_URL
ENVMON_SOURCE_MODE    "simulated" (default), "files" or "live": where the nightly run takes its data
ENVMON_INBOX          folder of payloads, <source>/<any name>: every file source in mode "files";
                      otherwise the laboratory and coastal files the collection DAGs watch for
ENVMON_CNEMC_WATER_URL, ENVMON_CNEMC_AIR_URL
                      with mode "live": the feeds' URLs (see pipelines/sources/live.py)
ENVMON_SIMULATOR_SEED seed of the simulator (default 20260301)
ENVMON_SIMULATOR_FAULTS  the real feeds' faults the simulator makes: "default" (all of them: a few
                      of each in any week), "none" (the clean world) or a comma list of names from
                      pipelines/sources/simulator.py FAULTS (offline, missing_month, over_range, ...)
ENVMON_SCOPE          "beibu" (default: the registry's stations; others counted out of scope) or
                      "national": every station and section the feeds publish, adopted with its
                      target unset (pipelines/scope.py)
ENVMON_ASSESSABLE_FLAGS  QC flags whose values the assessments use (default: good,not_evaluated)
ENVMON_SMTP_HOST, ENVMON_SMTP_PORT, ENVMON_SMTP_USER, ENVMON_SMTP_PASSWORD, ENVMON_SMTP_STARTTLS,
ENVMON_ALERT_FROM     the SMTP server alerts are sent through; without a host, e-mail alerts are
                      written to ENVMON_HOME/outbox as .eml files and held until one is configured
ENVMON_ALERT_ROUTING  the alert routing file (default pipelines/reference/data/alert_routing.toml);
                      the secrets it names (env:NAME, conn:ID) are read only when a message is sent
ENVMON_TASK_RETRIES, ENVMON_TASK_RETRY_DELAY_SECONDS
                      retries of every DAG task and the delay before the first (then doubling);
                      default: each DAG's own (nightly 2 after 5 min; collection 3 after 2 min)
ENVMON_FETCH_ATTEMPTS, ENVMON_FETCH_FIRST_WAIT_SECONDS
                      attempts of a live CNEMC request and the wait before the second (then
                      doubling, at most 60 s); default 4 and 2 s
ENVMON_COLLECT_MAX_TRIES, ENVMON_COLLECT_LOOKBACK_HOURS
                      the collection ledger (pipelines/ingest/collect.py): collections that may ask for an
                      expected hour or snapshot before it is recorded as a gap (default 6: six hourly
                      air collections, half a day of the water feed's 2-hourly ones), and the hours
                      back that are fetched again until unchanged, for late stations and revisions
                      (default 48, allowed 24-72)
ENVMON_BACKUP_DIR, ENVMON_BACKUP_KEEP
                      the daily backup (dags/envmon_backup.py, `envmon backup`): the folder each night's
                      backup is written to (unset: no backup DAG), and how many are kept (default 14)
ENVMON_AIRFLOW_RETENTION_DAYS, ENVMON_LOG_RETENTION_DAYS, ENVMON_INBOX_KEEP_DAYS
                      retention (dags/envmon_maintenance.py, daily): Airflow's metadata rows (DAG runs,
                      task instances, XComs, its log table) older than this are removed with `airflow
                      db clean` (default 90), task log files older than this are deleted (default 30),
                      and inbox files set aside in processed/ and refused/ (all in the payload archive)
                      are deleted after this many days (default 30)
ENVMON_STORAGE_URL, ENVMON_STORAGE_ENDPOINT_URL
                      the shared storage every worker and the app reach (pipelines/storage.py): the
                      payload archive (gzip, its sha256 checked on every re-read), the issued documents
                      and the Data Docs of every validation path. A folder (a mounted volume) or an
                      S3-compatible store (s3://bucket/prefix, MinIO in compose, at the endpoint URL;
                      credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY). Default: ENVMON_HOME itself
ENVMON_BULLETIN_CITIES
                      bureau codes (comma-separated) or "all": the cities whose own bulletin the monthly
                      DAG issues beside the region's (default: none)
ENVMON_NOW            the clock's instant, for tests and replays (pipelines/clock.py); unset: the real clock
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

ENV_VARS = (
    "ENVMON_HOME",
    "ENVMON_WAREHOUSE_URL",
    "ENVMON_DASHBOARD_WAREHOUSE_URL",
    "ENVMON_SOURCE_MODE",
    "ENVMON_INBOX",
    "ENVMON_CNEMC_WATER_URL",
    "ENVMON_CNEMC_AIR_URL",
    "ENVMON_SIMULATOR_SEED",
    "ENVMON_SIMULATOR_FAULTS",
    "ENVMON_SCOPE",
    "ENVMON_ASSESSABLE_FLAGS",
    "ENVMON_SMTP_HOST",
    "ENVMON_SMTP_PORT",
    "ENVMON_SMTP_USER",
    "ENVMON_SMTP_PASSWORD",
    "ENVMON_SMTP_STARTTLS",
    "ENVMON_ALERT_FROM",
    "ENVMON_ALERT_ROUTING",
    "ENVMON_TASK_RETRIES",
    "ENVMON_TASK_RETRY_DELAY_SECONDS",
    "ENVMON_FETCH_ATTEMPTS",
    "ENVMON_FETCH_FIRST_WAIT_SECONDS",
    "ENVMON_COLLECT_MAX_TRIES",
    "ENVMON_COLLECT_LOOKBACK_HOURS",
    "ENVMON_BACKUP_DIR",
    "ENVMON_BACKUP_KEEP",
    "ENVMON_AIRFLOW_RETENTION_DAYS",
    "ENVMON_LOG_RETENTION_DAYS",
    "ENVMON_INBOX_KEEP_DAYS",
    "ENVMON_STORAGE_URL",
    "ENVMON_STORAGE_ENDPOINT_URL",
    "ENVMON_BULLETIN_CITIES",
)  # and ENVMON_NOW, never set in a deployment (pipelines/clock.py)

DEFAULT_SEED = 20260301


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    user: str | None
    password: str | None
    starttls: bool
    sender: str


@dataclass(frozen=True)
class Settings:
    home: Path
    warehouse_url: str
    source_mode: str
    inbox: Path | None
    simulator_seed: int
    cnemc_water_url: str | None
    smtp: SmtpSettings | None
    cnemc_air_url: str | None = None
    assessable_flags: tuple[str, ...] = ("good", "not_evaluated")
    dashboard_warehouse_url: str | None = None
    alert_routing: Path | None = None   # None: the packaged routing file
    simulator_faults: tuple[str, ...] | None = None  # None: every fault (ENVMON_SIMULATOR_FAULTS=default)
    # issue 25: the shared storage (pipelines/storage.py; None: ENVMON_HOME) and its S3 endpoint, and
    # the cities whose own bulletin the monthly DAG issues (bureau codes, or all)
    storage_url: str | None = None
    storage_endpoint_url: str | None = None
    bulletin_cities: tuple[str, ...] = ()

    @property
    def data_docs_dir(self) -> Path:
        """Where Great Expectations builds Data Docs: the storage's data_docs/ when the storage is a
        folder; else a local folder, each site then copied to the store (pipelines/quality/data_docs.py)."""
        from pipelines import storage

        local = storage.of(self).local_path(storage.DATA_DOCS)
        return local if local is not None else self.home / "data_docs"

    @property
    def dashboard_url(self) -> str:
        """Where the dashboard reads: the read-only role's URL where one is set."""
        return self.dashboard_warehouse_url or self.warehouse_url

    @property
    def dashboard_dir(self) -> Path:
        return self.home / "dashboards"

    @property
    def outbox_dir(self) -> Path:
        return self.home / "outbox"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"


SOURCE_MODES = ("simulated", "files", "live")
# What the nightly run gathers before it assesses its day, by mode: the simulator's day of each
# simulated source (ingest → validate → load), or, in files mode, every new payload in the inbox
# of each file source (the one payload path, as `envmon ingest`). In live mode the collection DAGs
# fetch each feed on its own cadence, and the nightly run assesses what they collected.
NIGHTLY_SOURCES = {
    "simulated": ("simulated-water", "simulated-air", "simulated-coastal"),
    "files": (),
    "live": (),
}
FILE_SOURCES = ("cnemc-water", "cnemc-air", "lab", "coastal")  # payloads in ENVMON_INBOX/<source>/
NIGHTLY_INBOX_SOURCES = {"simulated": (), "files": FILE_SOURCES, "live": ()}
LIVE_SOURCES = ("cnemc-water", "cnemc-air")
INBOX_SOURCES = ("lab", "coastal")  # spreadsheets a collection DAG watches for, outside files mode


def source_mode(environ: dict[str, str] | None = None) -> str:
    """ENVMON_SOURCE_MODE alone: what a DAG file needs to know when Airflow parses it."""
    mode = (os.environ if environ is None else environ).get("ENVMON_SOURCE_MODE", "simulated")
    if mode not in SOURCE_MODES:
        raise ValueError(f"ENVMON_SOURCE_MODE must be 'simulated', 'files' or 'live', not {mode!r}")
    return mode


SIMULATED_LABEL = "simulated (envmon simulator; not measured data)"


def data_label(settings: Settings) -> str:
    """What the data are, as the alerts, the run summary and the static report say it (from the
    source mode): here, below the nightly steps and the alerts, so that both can import it."""
    labels = {"simulated": SIMULATED_LABEL, "files": "CNEMC feeds (files)", "live": "CNEMC feeds (live)"}
    return labels[settings.source_mode]


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    home = Path(env.get("ENVMON_HOME") or Path.cwd() / ".envmon").resolve()
    warehouse_url = env.get("ENVMON_WAREHOUSE_URL") or f"sqlite:///{home / 'warehouse.db'}"
    mode = source_mode(env)
    inbox = Path(env["ENVMON_INBOX"]) if env.get("ENVMON_INBOX") else None
    if mode == "files" and inbox is None:
        raise ValueError("ENVMON_SOURCE_MODE=files needs ENVMON_INBOX, the folder of payloads")
    if mode == "live" and not (env.get("ENVMON_CNEMC_WATER_URL") and env.get("ENVMON_CNEMC_AIR_URL")):
        raise ValueError("ENVMON_SOURCE_MODE=live needs ENVMON_CNEMC_WATER_URL and ENVMON_CNEMC_AIR_URL")
    smtp = None
    if env.get("ENVMON_SMTP_HOST"):
        smtp = SmtpSettings(
            host=env["ENVMON_SMTP_HOST"],
            port=int(env.get("ENVMON_SMTP_PORT", "25")),
            user=env.get("ENVMON_SMTP_USER") or None,
            password=env.get("ENVMON_SMTP_PASSWORD") or None,
            starttls=env.get("ENVMON_SMTP_STARTTLS", "false").lower() in ("1", "true", "yes"),
            sender=env.get("ENVMON_ALERT_FROM", "envmon@localhost"),
        )
    return Settings(
        home=home,
        warehouse_url=warehouse_url,
        source_mode=mode,
        inbox=inbox,
        simulator_seed=int(env.get("ENVMON_SIMULATOR_SEED", DEFAULT_SEED)),
        cnemc_water_url=env.get("ENVMON_CNEMC_WATER_URL") or None,
        smtp=smtp,
        cnemc_air_url=env.get("ENVMON_CNEMC_AIR_URL") or None,
        assessable_flags=_flags(env.get("ENVMON_ASSESSABLE_FLAGS", "good,not_evaluated")),
        dashboard_warehouse_url=env.get("ENVMON_DASHBOARD_WAREHOUSE_URL") or None,
        alert_routing=Path(env["ENVMON_ALERT_ROUTING"]) if env.get("ENVMON_ALERT_ROUTING") else None,
        simulator_faults=simulator_faults(env),
        storage_url=env.get("ENVMON_STORAGE_URL") or None,
        storage_endpoint_url=env.get("ENVMON_STORAGE_ENDPOINT_URL") or None,
        bulletin_cities=tuple(c.strip() for c in env.get("ENVMON_BULLETIN_CITIES", "").split(",") if c.strip()),
    )


def simulator_faults(environ: dict[str, str] | None = None) -> tuple[str, ...]:
    """ENVMON_SIMULATOR_FAULTS as fault names: `default` (or unset) every fault, `none` none, else
    the comma list; an unknown name is a clear error. Read by the simulator itself when it is not
    handed faults, so the nightly steps, the backfill's worker processes and the tests agree."""
    from pipelines.sources.simulator import parse_faults

    env = os.environ if environ is None else environ
    return parse_faults(env.get("ENVMON_SIMULATOR_FAULTS") or "default")


SCOPES = ("beibu", "national")


def scope(environ: dict[str, str] | None = None) -> str:
    """ENVMON_SCOPE (issue 27): `beibu` (default) the registry's Beibu Gulf stations, everything
    else in a payload counted out of scope; `national` every station and section the feeds publish,
    adopted into the registry with its target unset (pipelines/scope.py). Read where it is used, as
    ENVMON_SIMULATOR_FAULTS is, so the parser, the workers and the tests agree."""
    value = ((os.environ if environ is None else environ).get("ENVMON_SCOPE") or "beibu").strip()
    if value not in SCOPES:
        raise ValueError(f"ENVMON_SCOPE must be 'beibu' or 'national', not {value!r}")
    return value


def task_retries(retries: int, first_delay: timedelta, environ: dict[str, str] | None = None) -> dict:
    """A DAG's retry arguments: its own numbers unless ENVMON_TASK_RETRIES and
    ENVMON_TASK_RETRY_DELAY_SECONDS set others (the test suite sets one retry after a second, so a
    failed task fails a run in seconds, not after the production back-off of many minutes)."""
    env = os.environ if environ is None else environ
    if env.get("ENVMON_TASK_RETRIES"):
        retries = int(env["ENVMON_TASK_RETRIES"])
    if env.get("ENVMON_TASK_RETRY_DELAY_SECONDS"):
        first_delay = timedelta(seconds=float(env["ENVMON_TASK_RETRY_DELAY_SECONDS"]))
    return {"retries": retries, "retry_delay": first_delay, "retry_exponential_backoff": True}


def fetch_retries(environ: dict[str, str] | None = None) -> tuple[int, float]:
    """Attempts of a live feed request and the first wait between them (ENVMON_FETCH_ATTEMPTS,
    ENVMON_FETCH_FIRST_WAIT_SECONDS; default 4 attempts, 2 s)."""
    env = os.environ if environ is None else environ
    return int(env.get("ENVMON_FETCH_ATTEMPTS") or 4), float(env.get("ENVMON_FETCH_FIRST_WAIT_SECONDS") or 2.0)


def backup_schedule(environ: dict[str, str] | None = None) -> tuple[Path | None, int]:
    """The daily backup's folder (ENVMON_BACKUP_DIR; None: no scheduled backup) and how many backups
    it keeps (ENVMON_BACKUP_KEEP, default 14: two weeks to notice a loss before its last copy goes)."""
    env = os.environ if environ is None else environ
    keep = int(env.get("ENVMON_BACKUP_KEEP") or 14)
    if keep < 1:
        raise ValueError(f"ENVMON_BACKUP_KEEP must be at least 1, not {keep}")
    return (Path(env["ENVMON_BACKUP_DIR"]) if env.get("ENVMON_BACKUP_DIR") else None), keep


RETENTION_DEFAULTS = {"ENVMON_AIRFLOW_RETENTION_DAYS": 90, "ENVMON_LOG_RETENTION_DAYS": 30, "ENVMON_INBOX_KEEP_DAYS": 30}


def retention_days(environ: dict[str, str] | None = None) -> dict[str, int]:
    """The maintenance DAG's retention in days, by setting (RETENTION_DEFAULTS where unset)."""
    env = os.environ if environ is None else environ
    days = {}
    for name, default in RETENTION_DEFAULTS.items():
        text = (env.get(name) or "").strip()
        if text and not text.isdigit() or text and int(text) < 1:
            raise ValueError(f"{name} must be a whole number of days, at least 1, not {text!r}")
        days[name] = int(text) if text else default
    return days


LOOKBACK_HOURS_ALLOWED = (24, 72)  # shorter misses the revisions CNEMC makes in the day after; longer re-asks for little


def collection_rules(environ: dict[str, str] | None = None) -> tuple[int, int]:
    """The collection ledger's tries before a gap and look-back hours (ENVMON_COLLECT_MAX_TRIES,
    ENVMON_COLLECT_LOOKBACK_HOURS; default 6 and 48)."""
    env = os.environ if environ is None else environ
    tries, lookback = int(env.get("ENVMON_COLLECT_MAX_TRIES") or 6), int(env.get("ENVMON_COLLECT_LOOKBACK_HOURS") or 48)
    if tries < 1:
        raise ValueError(f"ENVMON_COLLECT_MAX_TRIES must be at least 1, not {tries}")
    if not LOOKBACK_HOURS_ALLOWED[0] <= lookback <= LOOKBACK_HOURS_ALLOWED[1]:
        raise ValueError(f"ENVMON_COLLECT_LOOKBACK_HOURS must lie within {LOOKBACK_HOURS_ALLOWED[0]}-"
                         f"{LOOKBACK_HOURS_ALLOWED[1]}, not {lookback}")
    return tries, lookback


def _flags(text: str) -> tuple[str, ...]:
    from pipelines.observations import QC_FLAGS

    flags = tuple(f.strip() for f in text.split(",") if f.strip())
    unknown = [f for f in flags if f not in QC_FLAGS]
    if unknown:
        raise ValueError(f"ENVMON_ASSESSABLE_FLAGS names unknown flags {unknown}; known: {', '.join(QC_FLAGS)}")
    return flags
