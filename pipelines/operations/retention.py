"""Retention, run every day by dags/envmon_maintenance.py: what grows without end is trimmed to its
settings (pipelines/config.py retention_days).

- Airflow's metadata database: about 250 DAG runs a day with their task instances, XComs and log
  rows. `airflow db clean --clean-before-timestamp <now - ENVMON_AIRFLOW_RETENTION_DAYS> --yes
  --skip-archive` deletes the older rows (Airflow keeps each DAG's latest run whatever its age;
  --skip-archive: no copy in _airflow_deleted__ tables, which would grow instead).
- Airflow's task logs (its [logging] base_log_folder, the airflow-logs volume): files older than
  ENVMON_LOG_RETENTION_DAYS are deleted, and the folders they leave empty.
- The inboxes' processed/ and refused/ day folders (pipelines/sources/inbox.py): every file in them
  is in the payload archive, so day folders older than ENVMON_INBOX_KEEP_DAYS are deleted.

The warehouse, the payload archive and the issued documents are never trimmed here: they are the
record (backups: pipelines/operations/backup.py)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

from pipelines import clock
from pipelines.config import FILE_SOURCES, Settings, load_settings, retention_days
from pipelines.sources.inbox import PROCESSED, REFUSED


class MaintenanceError(RuntimeError):
    """A retention step failed; the message says which and why, in one line."""


def airflow_db_clean_command(cutoff: datetime) -> list[str]:
    return [sys.executable, "-m", "airflow", "db", "clean", "--clean-before-timestamp", cutoff.isoformat(),
            "--yes", "--skip-archive"]


def clean_airflow_metadata(cutoff: datetime, run=subprocess.run) -> dict:
    """`airflow db clean` of everything before `cutoff`, against the metadata database this
    process's Airflow configuration names."""
    command = airflow_db_clean_command(cutoff)
    result = run(command, capture_output=True, text=True)
    if result.returncode != 0:
        lines = [line for line in (result.stderr or result.stdout or "").splitlines() if line.strip()]
        raise MaintenanceError(f"airflow db clean exited {result.returncode}: {lines[-1] if lines else 'no output'}")
    return {"cutoff": cutoff.isoformat(), "command": " ".join(command[1:])}


def delete_files_older_than(folder: Path, cutoff: datetime) -> int:
    """Delete the files under `folder` last modified before `cutoff`, then the folders left empty;
    the number of files deleted."""
    if not folder.is_dir():
        return 0
    deleted = 0
    for path in sorted(folder.rglob("*"), reverse=True):  # children before their folder
        if path.is_symlink() or path.is_file():
            if path.lstat().st_mtime < cutoff.timestamp():
                path.unlink()
                deleted += 1
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    return deleted


def delete_inbox_days_before(inbox: Path, first_kept: date) -> list[str]:
    """Delete the processed/ and refused/ day folders of every source's inbox older than `first_kept`."""
    removed = []
    for source in FILE_SOURCES:
        for kind in (PROCESSED, REFUSED):
            for day_folder in sorted((inbox / source / kind).glob("????-??-??")):
                try:
                    day = date.fromisoformat(day_folder.name)
                except ValueError:
                    continue  # not one of ours: left alone
                if day < first_kept:
                    shutil.rmtree(day_folder)
                    removed.append(f"{source}/{kind}/{day_folder.name}")
    return removed


def airflow_log_folder() -> Path:
    from airflow.configuration import conf

    return Path(conf.get("logging", "base_log_folder"))


def run_maintenance(settings: Settings | None = None, now: datetime | None = None, environ=None,
                    log_folder: Path | None = None, run=subprocess.run) -> dict:
    """The daily retention: Airflow's metadata, its task logs, the inboxes' set-aside files."""
    settings = settings or load_settings(environ)
    now = now or clock.now()
    days = retention_days(environ)
    log_folder = log_folder or airflow_log_folder()
    summary = {"airflow_db_clean": clean_airflow_metadata(now - timedelta(days=days["ENVMON_AIRFLOW_RETENTION_DAYS"]), run)}
    log_cutoff = now - timedelta(days=days["ENVMON_LOG_RETENTION_DAYS"])
    summary["logs"] = {"folder": str(log_folder), "before": log_cutoff.isoformat(),
                       "deleted": delete_files_older_than(log_folder, log_cutoff)}
    if settings.inbox:
        first_kept = clock.bureau_date(now) - timedelta(days=days["ENVMON_INBOX_KEEP_DAYS"])
        summary["inbox"] = {"before": first_kept.isoformat(),
                            "deleted": delete_inbox_days_before(Path(settings.inbox), first_kept)}
    return summary
